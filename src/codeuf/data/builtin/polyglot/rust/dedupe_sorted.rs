fn dedupe_sorted(xs: Vec<i64>) -> Vec<i64> {
    let mut out = xs.clone();
    out.sort();
    out.dedup();
    out
}
