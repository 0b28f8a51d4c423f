import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;

class Solution {
    static List<Long> dedupeSorted(List<Long> xs) {
        return new ArrayList<>(new TreeSet<>(xs));
    }
}
