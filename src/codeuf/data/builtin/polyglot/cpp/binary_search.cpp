#include <vector>

long binary_search(std::vector<long> xs, long target) {
    long lo = 0, hi = static_cast<long>(xs.size()) - 1;
    while (lo <= hi) {
        long mid = (lo + hi) / 2;
        if (xs[mid] == target) return mid;
        if (xs[mid] < target) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}
