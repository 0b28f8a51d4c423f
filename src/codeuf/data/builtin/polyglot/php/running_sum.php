<?php
function running_sum(array $xs): array {
    $out = [];
    $total = 0;
    foreach ($xs as $x) {
        $total += $x;
        $out[] = $total;
    }
    return $out;
}
