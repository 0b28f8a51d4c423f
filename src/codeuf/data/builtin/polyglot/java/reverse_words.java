import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;

class Solution {
    static String reverseWords(String s) {
        if (s.isEmpty()) return "";
        List<String> words = new ArrayList<>(Arrays.asList(s.split(" ")));
        Collections.reverse(words);
        return String.join(" ", words);
    }
}
