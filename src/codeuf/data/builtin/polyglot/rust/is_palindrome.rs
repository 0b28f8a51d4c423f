fn is_palindrome(s: String) -> bool {
    let kept: Vec<char> = s
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let n = kept.len();
    for i in 0..n / 2 {
        if kept[i] != kept[n - 1 - i] {
            return false;
        }
    }
    true
}
