"""A run's usage as its card and its terminal summary show it: batch calls and cost appear where a run has them."""

from __future__ import annotations

from codeuf.data.card import stage_usage

LIVE = {"calls": 4, "errors": 0, "wall_time_s": 1.0,
        "usage": {"openai:a": {"prompt_tokens": 10, "completion_tokens": 5, "batch_requests": 0, "batches": 0,
                               "cost_usd": None}}}  # fmt: skip
BATCHED = {"calls": 6, "errors": 0, "wall_time_s": 2.0,
           "usage": {"openai:a": {"prompt_tokens": 30, "completion_tokens": 9, "batch_requests": 4, "batches": 1,
                                  "cost_usd": 0.25},
                     "anthropic:j": {"prompt_tokens": 3, "completion_tokens": 1, "batch_requests": 2, "batches": 1,
                                     "cost_usd": 0.5}}}  # fmt: skip


def test_a_stage_in_batches_with_prices_says_so() -> None:
    assert stage_usage(BATCHED) == {"prompt": "33", "completion": "10", "batched": "6 calls in 2 batches",
                                    "cost": "0.7500"}  # fmt: skip


def test_one_batch_and_a_small_cost() -> None:
    one = {"calls": 1, "usage": {"openai:a": {"batch_requests": 1, "batches": 1, "cost_usd": 0.000123}}}
    assert (stage_usage(one)["batched"], stage_usage(one)["cost"]) == ("1 call in 1 batch", "0.00012")


def test_a_live_stage_without_prices_says_none_and_no_price() -> None:
    assert stage_usage(LIVE) == {"prompt": "10", "completion": "5", "batched": "none", "cost": "no price given"}
    assert stage_usage({"calls": 0, "errors": 0, "wall_time_s": 0.0})["cost"] == "no price given"
