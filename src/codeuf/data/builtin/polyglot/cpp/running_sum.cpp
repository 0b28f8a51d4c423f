#include <vector>

std::vector<long> running_sum(std::vector<long> xs) {
    std::vector<long> out;
    long total = 0;
    for (long x : xs) {
        total += x;
        out.push_back(total);
    }
    return out;
}
