fn sum_of_evens(xs: Vec<i64>) -> i64 {
    let mut total = 0;
    for x in xs {
        if x % 2 == 0 {
            total += x;
        }
    }
    total
}
