import java.util.ArrayList;
import java.util.List;

class Solution {
    static List<Long> runningSum(List<Long> xs) {
        List<Long> out = new ArrayList<>();
        long total = 0;
        for (long x : xs) {
            total += x;
            out.add(total);
        }
        return out;
    }
}
