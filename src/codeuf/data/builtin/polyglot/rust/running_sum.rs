fn running_sum(xs: Vec<i64>) -> Vec<i64> {
    let mut out = Vec::new();
    let mut total = 0;
    for x in xs {
        total += x;
        out.push(total);
    }
    out
}
