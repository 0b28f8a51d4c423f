<?php
function is_palindrome(string $s): bool {
    $kept = preg_replace('/[^a-z0-9]/', '', strtolower($s));
    for ($i = 0, $j = strlen($kept) - 1; $i < $j; $i++, $j--) {
        if ($kept[$i] !== $kept[$j]) return false;
    }
    return true;
}
