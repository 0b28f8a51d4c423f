class Solution {
    static boolean isPalindrome(String s) {
        String kept = s.toLowerCase().replaceAll("[^a-z0-9]", "");
        for (int i = 0, j = kept.length() - 1; i < j; i++, j--) {
            if (kept.charAt(i) != kept.charAt(j)) return false;
        }
        return true;
    }
}
