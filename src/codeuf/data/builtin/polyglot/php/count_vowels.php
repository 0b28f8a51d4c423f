<?php
function count_vowels(string $s): int {
    $count = 0;
    foreach (str_split(strtolower($s)) as $ch) {
        if (strpos("aeiou", $ch) !== false) $count += 1;
    }
    return $count;
}
