#include <vector>

long sum_of_evens(std::vector<long> xs) {
    long total = 0;
    for (long x : xs) {
        if (x % 2 == 0) total += x;
    }
    return total;
}
