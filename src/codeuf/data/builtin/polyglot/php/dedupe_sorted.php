<?php
function dedupe_sorted(array $xs): array {
    $out = array_values(array_unique($xs));
    sort($out);
    return $out;
}
