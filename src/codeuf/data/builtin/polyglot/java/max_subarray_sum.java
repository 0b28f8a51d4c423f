import java.util.List;

class Solution {
    static long maxSubarraySum(List<Long> xs) {
        long best = xs.get(0), current = xs.get(0);
        for (int i = 1; i < xs.size(); i++) {
            current = Math.max(xs.get(i), current + xs.get(i));
            best = Math.max(best, current);
        }
        return best;
    }
}
