class Solution {
    static long countVowels(String s) {
        long count = 0;
        for (char ch : s.toLowerCase().toCharArray()) {
            if ("aeiou".indexOf(ch) >= 0) count += 1;
        }
        return count;
    }
}
