"""Length control for pairs: drop (or down-weight) the pairs whose choice the responses' lengths alone explain.

We follow AlpacaEval 2's length-controlled win rate (Dubois, Galambosi, Liang and Hashimoto, 2024,
"Length-Controlled AlpacaEval: A Simple Way to Debias Automatic Evaluators"), adapted from win rates against a
baseline to the pairs of one dataset. AlpacaEval fits a logistic regression of the judge's preference on the
two models' identities and on `tanh(length difference / its standard deviation)`, then predicts the preference
with the length term set to zero. Here:

1. **The fit.** Every pair of responses to one instruction whose final ratings differ is one observation:
   `P(a rated above b) = sigmoid(theta[model a] - theta[model b] + beta * tanh((len a - len b) / sd))`,
   fitted by Newton's method with ridge penalties (a weak prior on the models' terms); lengths are in
   characters, `sd` is the standard deviation of the differences. `beta > 0` is a judge that prefers longer
   responses, all else equal.
2. **Each pair.** For a binarized pair, the fitted log-odds of the choice that was made split into the models'
   term (`theta[chosen] - theta[rejected]`) and the length term (`beta * tanh(...)`). The choice is explained by
   length when the length term favours it and outweighs the models' term: without it, the fit would predict
   the other response, or no preference. `p_full` and `p_controlled` are the probabilities with and without
   the length term.
3. **What changes.** `drop` removes those pairs; `weight` keeps every pair and sets `length_weight =
   min(1, p_controlled / p_full)` on each (1 where length explains nothing), for a trainer that weights samples.

The statistics report `beta` with the number of observations it rests on, and how many pairs changed.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from codeuf.data.schema import FeedbackRecord, rating_value

RIDGE_MODELS = 1.0
"""The ridge penalty on the models' terms: a weak prior (in log-odds) that keeps chance differences between
models from passing for skill on a few hundred observations."""
RIDGE_LENGTH = 1e-3


def fit_length_model(records: list[FeedbackRecord]) -> dict[str, Any] | None:
    """(theta per model, beta, sd, observations), or None where there is nothing to fit."""
    observations = []
    for record in records:
        lengths = {r.model: len(r.response) for r in record.responses}
        rated = [(a.model, rating_value(a.rating)) for a in record.annotations if a.model in lengths]
        rated = [(m, v) for m, v in rated if v is not None]
        for (a, va), (b, vb) in itertools.combinations(sorted(rated), 2):
            if va != vb:
                observations.append((a, b, lengths[a] - lengths[b], 1.0 if va > vb else 0.0))
    if len(observations) < 2:
        return None
    differences = [d for _, _, d, _ in observations]
    mean = sum(differences) / len(differences)
    sd = math.sqrt(sum((d - mean) ** 2 for d in differences) / len(differences)) or 1.0
    models = sorted({m for a, b, _, _ in observations for m in (a, b)})
    theta, beta = _newton(observations, models, sd)
    return {"theta": theta, "beta": beta, "sd": sd, "observations": len(observations)}


def _newton(observations: list[tuple[str, str, float, float]], models: list[str],
            sd: float) -> tuple[dict[str, float], float]:  # fmt: skip
    import numpy as np

    index = {m: i for i, m in enumerate(models)}
    x = np.zeros((len(observations), len(models) + 1))
    y = np.array([o[3] for o in observations])
    for row, (a, b, difference, _) in enumerate(observations):
        x[row, index[a]] += 1.0
        x[row, index[b]] -= 1.0
        x[row, -1] = math.tanh(difference / sd)
    w = np.zeros(x.shape[1])
    penalty = np.diag([RIDGE_MODELS] * len(models) + [RIDGE_LENGTH])
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        gradient = x.T @ (y - p) - penalty @ w
        hessian = (x.T * (p * (1 - p))) @ x + penalty
        step = np.linalg.solve(hessian, gradient)
        w += step
        if float(np.max(np.abs(step))) < 1e-8:
            break
    return {m: float(w[i]) for m, i in index.items()}, float(w[-1])


def control_pairs(rows: list[dict[str, Any]], fit: dict[str, Any] | None,
                  mode: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:  # fmt: skip
    """The pairs after length control (`drop` or `weight`), and what it did."""
    if fit is None:
        return rows, {"mode": mode, "fitted": False, "pairs_changed": 0, "note": "fewer than 2 rated response pairs"}
    kept, explained, weighted = [], 0, 0
    for row in rows:
        theta = fit["theta"]
        skill = theta.get(row["model_chosen"], 0.0) - theta.get(row["model_rejected"], 0.0)
        length = math.tanh((len(row["chosen"]) - len(row["rejected"])) / fit["sd"])
        push = fit["beta"] * length
        p_full, p_controlled = _sigmoid(skill + push), _sigmoid(skill)
        by_length = push > 0 and push > abs(skill)  # length, not the models, makes the choice the likely one
        explained += by_length
        if mode == "weight":
            weight = round(min(1.0, p_controlled / p_full), 6)
            weighted += weight < 1.0
            kept.append({**row, "length_weight": weight})
        elif not by_length:
            kept.append(row)
    stats = {"mode": mode, "fitted": True, "beta": round(fit["beta"], 6), "observations": fit["observations"],
             "pairs_explained_by_length": explained,
             "pairs_changed": explained if mode == "drop" else weighted}  # fmt: skip
    return kept, stats


def _sigmoid(value: float) -> float:
    return 1.0 / (1.0 + math.exp(-value))
