import java.util.List;

class Solution {
    static long sumOfEvens(List<Long> xs) {
        long total = 0;
        for (long x : xs) {
            if (x % 2 == 0) total += x;
        }
        return total;
    }
}
