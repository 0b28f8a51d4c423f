fn binary_search(xs: Vec<i64>, target: i64) -> i64 {
    let (mut lo, mut hi) = (0i64, xs.len() as i64 - 1);
    while lo <= hi {
        let mid = (lo + hi) / 2;
        if xs[mid as usize] == target {
            return mid;
        }
        if xs[mid as usize] < target {
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    -1
}
