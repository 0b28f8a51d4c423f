fn reverse_words(s: String) -> String {
    if s.is_empty() {
        return String::new();
    }
    let words: Vec<&str> = s.split(' ').rev().collect();
    words.join(" ")
}
