fn count_vowels(s: String) -> i64 {
    let mut count = 0;
    for c in s.to_lowercase().chars() {
        if "aeiou".contains(c) {
            count += 1;
        }
    }
    count
}
