class Solution {
    static int binarySearch(long[] xs, long target) {
        int lo = 0, hi = xs.length - 1;
        while (lo <= hi) {
            int mid = (lo + hi) / 2;
            if (xs[mid] == target) return mid;
            if (xs[mid] < target) lo = mid + 1;
            else hi = mid - 1;
        }
        return -1;
    }
}
