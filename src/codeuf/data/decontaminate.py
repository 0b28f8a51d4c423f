"""Training data must not hold the evaluation's tasks: an overlap check between two sets of texts.

A training text overlaps an evaluation task when it has the task's id, or when the two share a run of
N consecutive words after normalisation (lowercase, words and numbers only): GPT-3's decontamination used
13-grams (Brown et al., 2020), and a task shorter than N words overlaps when all its words appear in a row.
Word n-grams catch a task pasted into a longer instruction (as `codeuf humaneval` asks it, or with its
signature and docstring) while two unrelated tasks that share a stock phrase rarely share 13 words in a row.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

NGRAM = 13
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class Overlap:
    train_id: str
    eval_id: str
    why: str


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _ngrams(words: list[str], n: int) -> set[tuple[str, ...]]:
    if len(words) < n:
        return {tuple(words)} if words else set()
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def _contains(haystack: list[str], needle: tuple[str, ...]) -> bool:
    size = len(needle)
    return any(tuple(haystack[i : i + size]) == needle for i in range(len(haystack) - size + 1))


def find_overlaps(
    train: Iterable[tuple[str, str]], evaluation: Iterable[tuple[str, str]], n: int = NGRAM
) -> list[Overlap]:
    """(id, text) pairs of training data against (id, text) pairs of evaluation tasks: every overlap."""
    tasks = [(task_id, _words(text)) for task_id, text in evaluation]
    ids = {task_id for task_id, _ in tasks}
    index: dict[tuple[str, ...], str] = {}
    short: list[tuple[str, tuple[str, ...]]] = []
    for task_id, words in tasks:
        if len(words) < n:
            short.append((task_id, tuple(words)))
        for gram in _ngrams(words, n):
            index.setdefault(gram, task_id)
    found = []
    for train_id, text in train:
        if train_id in ids:
            found.append(Overlap(train_id, train_id, "the same task id"))
            continue
        words = _words(text)
        hit = next((index[g] for g in _ngrams(words, n) if g in index), None)
        if hit is None:
            hit = next((task_id for task_id, needle in short if needle and _contains(words, needle)), None)
        if hit is not None:
            found.append(Overlap(train_id, hit, f"{n} words in a row" if len(words) >= n else "its whole text"))
    return found
