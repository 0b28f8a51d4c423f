<?php
function reverse_words(string $s): string {
    if ($s === "") return "";
    return implode(" ", array_reverse(explode(" ", $s)));
}
