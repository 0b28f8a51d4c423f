def test_bootstrap_sums_gives_the_ratio_of_sums_with_an_interval_that_holds_it() -> None:
    from codeuf.stats import bootstrap_sums

    columns = {"hits": [1, 0, 1, 1, 0, 1, 1, 0, 1, 1] * 5, "n": [1] * 50}
    estimate = bootstrap_sums(columns, lambda t: t["hits"] / t["n"], seed=3)
    assert estimate.value == 0.7 and estimate.n == 50
    assert estimate.low is not None and estimate.high is not None and estimate.low < 0.7 < estimate.high
    constant = bootstrap_sums({"x": [2.0] * 20, "n": [1] * 20}, lambda t: t["x"] / t["n"])
    assert (constant.value, constant.low, constant.high) == (2.0, 2.0, 2.0)
    assert bootstrap_sums({"x": [], "n": []}, lambda t: t["x"] / t["n"]).value is None
    assert bootstrap_sums({"x": [1.0], "n": [0]}, lambda t: t["x"] / t["n"]).value is None  # 1/0 is no value
