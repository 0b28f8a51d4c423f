#include <algorithm>
#include <vector>

long max_subarray_sum(std::vector<long> xs) {
    long best = xs[0], current = xs[0];
    for (size_t i = 1; i < xs.size(); i++) {
        current = std::max(xs[i], current + xs[i]);
        best = std::max(best, current);
    }
    return best;
}
