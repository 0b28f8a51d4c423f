<?php
function max_subarray_sum(array $xs): int {
    $best = $xs[0];
    $current = $xs[0];
    for ($i = 1; $i < count($xs); $i++) {
        $current = max($xs[$i], $current + $xs[$i]);
        $best = max($best, $current);
    }
    return $best;
}
