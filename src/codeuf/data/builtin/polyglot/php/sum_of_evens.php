<?php
function sum_of_evens(array $xs): int {
    $total = 0;
    foreach ($xs as $x) {
        if ($x % 2 == 0) $total += $x;
    }
    return $total;
}
