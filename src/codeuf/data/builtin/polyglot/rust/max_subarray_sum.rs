fn max_subarray_sum(xs: Vec<i64>) -> i64 {
    let mut best = xs[0];
    let mut current = xs[0];
    for &x in &xs[1..] {
        current = std::cmp::max(x, current + x);
        best = std::cmp::max(best, current);
    }
    best
}
