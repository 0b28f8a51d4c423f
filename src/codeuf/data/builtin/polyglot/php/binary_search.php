<?php
function binary_search(array $xs, int $target): int {
    $lo = 0;
    $hi = count($xs) - 1;
    while ($lo <= $hi) {
        $mid = intdiv($lo + $hi, 2);
        if ($xs[$mid] == $target) return $mid;
        if ($xs[$mid] < $target) $lo = $mid + 1;
        else $hi = $mid - 1;
    }
    return -1;
}
