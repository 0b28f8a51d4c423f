"""Statistics for scores: means with bootstrap confidence intervals, paired tests, correlations.

Seeded and dependency-free (numpy is used when present for speed, never required for correctness).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Estimate:
    value: float | None
    low: float | None
    high: float | None
    n: int

    def as_dict(self) -> dict[str, float | int | None]:
        return {"value": self.value, "ci_low": self.low, "ci_high": self.high, "n": self.n}


def _percentile(sorted_values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if len(sorted_values) == 1:
        return sorted_values[0]
    position = (len(sorted_values) - 1) * q
    lower = math.floor(position)
    upper = min(lower + 1, len(sorted_values) - 1)
    return sorted_values[lower] + (sorted_values[upper] - sorted_values[lower]) * (position - lower)


def bootstrap_mean(
    values: Sequence[float], *, resamples: int = 2000, confidence: float = 0.95, seed: int = 0
) -> Estimate:
    """The mean with a percentile bootstrap interval. A constant sample has a zero-width interval."""
    data = list(values)
    if not data:
        return Estimate(None, None, None, 0)
    mean = sum(data) / len(data)
    rng = random.Random(seed)
    n = len(data)
    means = sorted(sum(data[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples))
    alpha = (1 - confidence) / 2
    return Estimate(mean, _percentile(means, alpha), _percentile(means, 1 - alpha), n)


@dataclass(frozen=True)
class PairedTest:
    difference: float
    low: float
    high: float
    p_value: float
    n: int

    def as_dict(self) -> dict[str, float | int]:
        return {"difference": self.difference, "ci_low": self.low, "ci_high": self.high, "p_value": self.p_value,
                "n": self.n}  # fmt: skip


def paired_bootstrap(
    a: Sequence[float], b: Sequence[float], *, resamples: int = 2000, confidence: float = 0.95, seed: int = 0
) -> PairedTest:
    """Mean of a - b over paired items, its bootstrap interval, and a two-sided bootstrap p-value
    (how often the resampled difference falls on the other side of zero, doubled; 1.0 for no difference)."""
    if len(a) != len(b) or not a:
        raise ValueError("paired samples must be non-empty and of equal length")
    diffs = [x - y for x, y in zip(a, b, strict=True)]
    n = len(diffs)
    observed = sum(diffs) / n
    rng = random.Random(seed)
    samples = sorted(sum(diffs[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples))
    alpha = (1 - confidence) / 2
    if observed == 0 and all(d == 0 for d in diffs):
        p = 1.0
    else:
        below = sum(s <= 0 for s in samples) / resamples
        above = sum(s >= 0 for s in samples) / resamples
        p = min(1.0, 2 * min(below, above))
    return PairedTest(observed, _percentile(samples, alpha), _percentile(samples, 1 - alpha), p, n)


def _ranks(values: Sequence[float]) -> list[float]:
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    n = len(x)
    if n < 2:
        return None
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    return None if sxx == 0 or syy == 0 else sxy / math.sqrt(sxx * syy)


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    return pearson(_ranks(x), _ranks(y))


def kendall_tau_b(x: Sequence[float], y: Sequence[float]) -> float | None:
    n = len(x)
    concordant = discordant = ties_x = ties_y = 0
    for i in range(n):
        for j in range(i + 1, n):
            dx, dy = x[i] - x[j], y[i] - y[j]
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                ties_x += 1
            elif dy == 0:
                ties_y += 1
            elif (dx > 0) == (dy > 0):
                concordant += 1
            else:
                discordant += 1
    denominator = math.sqrt((concordant + discordant + ties_x) * (concordant + discordant + ties_y))
    return None if denominator == 0 else (concordant - discordant) / denominator


def bootstrap_statistic(
    items: Sequence[object],
    statistic,
    *,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,  # type: ignore[no-untyped-def]
) -> Estimate:
    """Any statistic over items (for example a correlation over pairs), with a percentile interval."""
    value = statistic(list(items))
    if value is None or not items:
        return Estimate(value, None, None, len(items))
    rng = random.Random(seed)
    n = len(items)
    values = []
    for _ in range(resamples):
        sample = [items[rng.randrange(n)] for _ in range(n)]
        result = statistic(sample)
        if result is not None:
            values.append(result)
    if not values:
        return Estimate(value, None, None, n)
    values.sort()
    alpha = (1 - confidence) / 2
    return Estimate(value, _percentile(values, alpha), _percentile(values, 1 - alpha), n)


def too_few(estimate: dict[str, Any] | None, min_n: int) -> bool:
    """An estimate whose interval rests on fewer than `min_n` items (and so is not worth printing)."""
    return bool(estimate) and estimate.get("value") is not None and (estimate.get("n") or 0) < min_n


def interval_text(estimate: dict[str, Any], digits: int = 3, min_n: int = 10) -> str:
    """`0.750 [0.500, 1.000]`, or `0.000 (n = 1, too few for an interval)` where the interval would rest on
    fewer than `min_n` items, or `undefined` where there is no value."""
    value = estimate.get("value")
    if value is None:
        return "undefined"
    if too_few(estimate, min_n) or estimate.get("ci_low") is None:
        return f"{value:.{digits}f} (n = {estimate.get('n', 0)}, too few for an interval)"
    return f"{value:.{digits}f} [{estimate['ci_low']:.{digits}f}, {estimate['ci_high']:.{digits}f}]"


def bootstrap_sums(
    columns: dict[str, Sequence[float]],
    statistic: Any,
    *,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Estimate:
    """A statistic of column sums over items (a ratio of sums, a difference of two means), with a percentile
    interval from resampling the items; vectorised with numpy, so that 10,000 items take a fraction of a second.
    `statistic` receives {column: sum} with floats or arrays (one per resample) and must work on both."""
    import numpy as np

    names = list(columns)
    data = np.array([list(columns[k]) for k in names], dtype=float).reshape(len(names), -1)
    n = data.shape[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        full = float(statistic({k: data[i].sum() for i, k in enumerate(names)})) if n else float("nan")
        if not math.isfinite(full):
            return Estimate(None, None, None, n)
        rng = np.random.default_rng(seed)
        values = []
        for start in range(0, resamples, 100):
            counts = rng.multinomial(n, np.full(n, 1.0 / n), size=min(100, resamples - start))
            sums = counts @ data.T
            values.append(np.asarray(statistic({k: sums[:, i] for i, k in enumerate(names)}), dtype=float))
    finite = np.sort(np.concatenate(values))
    finite = finite[np.isfinite(finite)]
    if not len(finite):
        return Estimate(full, None, None, n)
    alpha = (1 - confidence) / 2
    return Estimate(full, _percentile(finite.tolist(), alpha), _percentile(finite.tolist(), 1 - alpha), n)
