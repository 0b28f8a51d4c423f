#include <set>
#include <vector>

std::vector<long> dedupe_sorted(std::vector<long> xs) {
    std::set<long> seen(xs.begin(), xs.end());
    return std::vector<long>(seen.begin(), seen.end());
}
