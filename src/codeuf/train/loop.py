"""`codeuf loop`: the paper's loop, closed, on one machine, and the paper's question asked of it.

1. build a preference dataset with `codeuf run` (the embedded model's demo pool and judge by default);
2. binarize the same feedback once per criterion (`criteria`): `judge` (the paper's pairs), `tests` or
   `tests-then-judge` (pairs grounded in test execution, see codeuf.stages.binarize);
3. train the base model on each set of pairs (DPO by default, or any preference algorithm of
   codeuf.train.algorithms; the recipe `cpu-ALGORITHM` by default), and export each to GGUF;
4. answer and grade CODAL-Bench (a local bench file) with base and every trained model, same judge;
5. HumanEval+ (or HumanEval offline) pass@1 for all, same prompts and decoding;
6. one comparison table: CODAL scores with 95% bootstrap CIs, pass@1 with a bootstrap CI over tasks, the DPO
   reward accuracy on held-out pairs, and paired tests of each trained model against the base and of the
   execution-grounded model against the judge-trained one.

Training tasks are never evaluation tasks: before anything runs, the source's instructions are checked
against the HumanEval tasks and the CODAL items (ids, and 13-word overlaps: codeuf.data.decontaminate).

Every step resumes: the run, the answers and the grades are cached and appended; training and export are
skipped when their outputs exist. The table is written to comparison.json and comparison.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from codeuf.io import atomic_write_text
from codeuf.stats import bootstrap_mean, paired_bootstrap
from codeuf.train.run import losses

BUILTIN_BENCH = Path(__file__).resolve().parents[1] / "data" / "builtin" / "codal_mini.jsonl"


def arm_name(config: LoopConfig, criterion: str) -> str:
    """The trained model of a criterion, as the table names it: `dpo-judge`, `dpo-tests`, `kto-tests`, ..."""
    return f"{config.algorithm}-{criterion}"


Criterion = Literal["judge", "tests", "tests-then-judge"]


class LoopConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    out: Path = Field(Path("runs/loop"), strict=False)
    base: str = Field("default", description="The model to align: the embedded default or a .gguf.")
    run_config: Path | None = Field(
        None, strict=False, description="A `codeuf run` config; none: the embedded demo pool."
    )
    source: str | None = Field(None, description="Instruction source (overrides the run config's).")
    instructions: int = Field(24, ge=2, description="Instructions for the dataset (with the demo pool).")
    criteria: list[Criterion] = Field(
        default_factory=lambda: ["judge", "tests"], min_length=1,
        description="One DPO model per criterion, trained on pairs binarized from the same feedback.",
    )  # fmt: skip
    test_fraction: float = Field(0.25, gt=0, lt=1, description="Held-out pairs, for the DPO reward accuracy.")
    algorithm: str = Field("dpo", description="Training algorithm (codeuf.train.algorithms): dpo, kto, orpo, ...")
    recipe: str | None = Field(None, description="A recipe file or a shipped one [default: cpu-ALGORITHM].")
    train_overrides: list[str] = Field(default_factory=lambda: ["--max_steps", "16"], description="Recipe overrides.")
    outtype: str = "f16"
    bench: str = str(BUILTIN_BENCH)
    judge: str = Field("embedded", description="The CODAL judge: a shipped judge, a judge file, or a model spec.")
    answer_max_tokens: int = 256
    humaneval_dataset: str | None = None
    humaneval_data: Path | None = Field(None, strict=False)
    humaneval_limit: int | None = Field(40, ge=1)
    humaneval_max_tokens: int = 256
    concurrency: int = Field(4, ge=1)

    @field_validator("judge")
    @classmethod
    def _known_judge(cls, value: str) -> str:
        judge_of(value)
        return value

    @field_validator("algorithm")
    @classmethod
    def _preference_algorithm(cls, value: str) -> str:
        from codeuf.train.algorithms import ALGORITHMS

        if value not in ALGORITHMS or ALGORITHMS[value].data == "completion":
            known = ", ".join(a.name for a in ALGORITHMS.values() if a.data != "completion")
            raise ValueError(f"not a preference algorithm (known: {known})")
        return value

    @field_validator("criteria")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("a criterion is named twice")
        return value


def judge_of(name: str) -> Any:
    """The loop's CODAL judge: a model spec (with the judge defaults), else a shipped judge or judge file."""
    from codeuf.errors import InputError
    from codeuf.judging import judge_from_spec, load_judges

    try:
        judges = [judge_from_spec(name, field="judge")] if ":" in name else load_judges(name)
    except InputError as exc:
        raise ValueError(exc.detail) from None
    if len(judges) != 1:
        raise ValueError(f"{name!r} holds {len(judges)} judges: the loop grades with one")
    return judges[0]


def recipe_of(config: LoopConfig) -> str:
    return config.recipe or f"cpu-{config.algorithm}"


def load_loop_config(path: Path | None) -> LoopConfig:
    if path is None:
        return LoopConfig()
    from codeuf.config.reader import read_yaml_mapping, validated

    return validated(LoopConfig, *read_yaml_mapping(Path(path)), path=path)


# ----------------------------------------------------------------------------- checks before anything runs


def run_settings(config: LoopConfig) -> Any:
    """The `codeuf run` config that builds the loop's data."""
    from codeuf.config import default_config, load_config, with_overrides

    base = load_config(config.run_config) if config.run_config else default_config()
    overrides: dict[str, Any] = {"out": config.out / "data", "n": config.instructions,
                                 "test_fraction": config.test_fraction, "concurrency": config.concurrency}  # fmt: skip
    if config.source is not None:
        overrides["source"] = config.source
    return with_overrides(base, **overrides)


def check_overlap(config: LoopConfig, settings: Any) -> None:
    """Refuse a training source that holds evaluation tasks (HumanEval's or the CODAL bench's)."""
    from codeuf.data.decontaminate import find_overlaps
    from codeuf.data.sources import load_instructions
    from codeuf.errors import InputError
    from codeuf.evals.codal import load_bench

    tasks = _evaluated_tasks(config)
    evaluation = [(t.task_id, t.prompt) for t in tasks] + [(i.id, i.instruction) for i in load_bench(config.bench)]
    train = [(i.id, i.text) for i in load_instructions(settings.source, settings.column, settings.split)]
    found = find_overlaps(train, evaluation)
    if found:
        first = found[0]
        raise InputError(
            f"{len(found)} training instructions overlap the evaluation set (first: {first.train_id} and "
            f"{first.eval_id}, {first.why}); train on tasks the evaluation does not hold",
            path=settings.source, field="source",
        )  # fmt: skip


def _evaluated_tasks(config: LoopConfig) -> list[Any]:
    """The problems `codeuf humaneval` will evaluate (the configured benchmark, else HumanEval+, else the
    original HumanEval offline)."""
    from codeuf.evals.humaneval_run import resolve_benchmark

    return resolve_benchmark(config.humaneval_dataset, config.humaneval_data)[1]


def check_loop(config: LoopConfig) -> Any:
    """What would otherwise fail hours in (after building data or training), checked before anything runs;
    returns the run settings."""
    from codeuf.errors import InputError
    from codeuf.evals.codal import load_bench
    from codeuf.io import check_writable_dir
    from codeuf.stages.pipeline import check_config
    from codeuf.train.recipe import recipe_path, shipped_recipes

    check_writable_dir(config.out, "out")
    settings = run_settings(config)
    check_config(settings)
    load_bench(config.bench)
    if not recipe_path(recipe_of(config)).is_file():
        raise InputError(f"recipe not found (shipped: {', '.join(shipped_recipes())})", field="recipe")
    check_overlap(config, settings)
    return settings


# ----------------------------------------------------------------------------- data, pairs, training


def _build_data(settings: Any, progress: bool | None) -> list[Any]:
    from codeuf.data.schema import FeedbackRecord
    from codeuf.stages.pipeline import _records, run_pipeline

    summary = run_pipeline(settings, progress=progress)
    if summary.failures:
        from codeuf.errors import CallsFailedError

        raise CallsFailedError(summary.failures)  # no training on a dataset with holes: rerun to complete it
    return _records(None, Path(settings.out) / "annotations.jsonl", FeedbackRecord)


def _pairs(config: LoopConfig, settings: Any, feedback: list[Any], criterion: str) -> tuple[Path, dict[str, Any]]:
    """The feedback binarized by one criterion, saved where the arm trains from."""
    from codeuf.data.card import binarized_card
    from codeuf.data.save import save_dataset
    from codeuf.stages.binarize import binarize_feedback

    splits, stats = binarize_feedback(
        feedback,
        seed=settings.seed,
        ties=settings.ties,
        min_margin=settings.min_margin,
        test_fraction=settings.test_fraction,
        criterion=criterion,
    )  # type: ignore[arg-type]
    folder = config.out / "pairs" / arm_name(config, criterion)
    save_dataset(folder, splits, binarized_card({"criterion": criterion}, stats))
    return folder, stats


def _train(config: LoopConfig, arm: str, data: Path) -> tuple[Path, dict[str, Any]]:
    from codeuf.train.recipe import load_recipe
    from codeuf.train.run import train

    out = config.out / arm
    if (out / "metrics.json").is_file():
        return out, json.loads((out / "metrics.json").read_text())
    overrides = ["--model", config.base, "--dataset", str(data), "--output_dir", str(out), *config.train_overrides]
    return out, train(config.algorithm, load_recipe(config.algorithm, recipe_of(config), overrides))


def _export(config: LoopConfig, arm: str, adapter: Path) -> Path:
    from codeuf.train.export import export

    gguf = config.out / f"{arm}.gguf"
    if not gguf.is_file():
        export(adapter, gguf, config.outtype)
    return gguf


def _training_summary(metrics: dict[str, Any], stats: dict[str, Any]) -> dict[str, Any]:
    evaluation = metrics.get("eval") or {}
    return {
        "pairs": metrics.get("train_rows"),
        "held_out_pairs": metrics.get("eval_rows"),
        "reward_accuracy": evaluation.get("eval_rewards/accuracies"),
        "reward_margin": evaluation.get("eval_rewards/margins"),
        "first_loss": next(iter(losses(metrics)), None),
        "train_loss": metrics.get("train", {}).get("train_loss"),
        "binarized": {k: stats.get(k) for k in ("pairs", "pairs_per_criterion", "dropped_no_pass_fail",
                                                "dropped_no_tests", "dropped_ties")},
    }  # fmt: skip


# ----------------------------------------------------------------------------- evaluation


def _codal(config: LoopConfig, models: dict[str, str], progress: bool | None) -> dict[str, Any]:
    """Answers and grades for every model; returns {"scores": {name: overall}, "runs": {name: GradedRun}}."""
    from codeuf.evals.codal import answer_bench, grade_answers, load_bench
    from codeuf.evals.report import load_runs, score_run
    from codeuf.session import StageSession

    items = load_bench(config.bench)
    judge = judge_of(config.judge)
    runs = {}
    for name, spec in models.items():
        folder = config.out / "codal" / name
        session = StageSession(folder / "cache.sqlite", config.concurrency, progress)
        with session.working_in(folder):
            answer_bench(items, spec, folder, session, label=name, max_tokens=config.answer_max_tokens,
                         prompt_format=None, source=config.bench)  # fmt: skip
            grade_answers(folder, judge, session)
        runs[name] = load_runs([folder])[0]
    return {"scores": {name: score_run(run)["overall"] for name, run in runs.items()}, "runs": runs}


def _humaneval(config: LoopConfig, name: str, spec: str) -> dict[str, Any]:
    from codeuf.evals.humaneval_run import HumanEvalOptions, run_humaneval

    out = config.out / "humaneval" / name
    run_humaneval(HumanEvalOptions(model=spec, dataset=config.humaneval_dataset, data=config.humaneval_data,
                                   mode="completion", max_tokens=config.humaneval_max_tokens,
                                   limit=config.humaneval_limit, out=out, concurrency=config.concurrency))  # fmt: skip
    summary = json.loads((out / "summary.json").read_text())
    plus = "plus" in summary
    passed = []
    for line in (out / "results.jsonl").read_text().splitlines():
        result = json.loads(line)
        passed.append(float(result["base"] == "pass" and (not plus or result["plus"] == "pass")))
    estimate = bootstrap_mean(passed)
    return {"dataset": summary["dataset"], "tasks": summary["tasks"], "pass@1": estimate.value,
            "ci_low": estimate.low, "ci_high": estimate.high, "base_pass@1": summary["base"]["pass@1"],
            "passed": passed}  # fmt: skip


def paired_differences(
    names: list[str], codal_runs: dict[str, Any], humaneval: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each trained model against the base, and the execution-grounded ones against the judge-trained one:
    a paired bootstrap of a - b over the same CODAL items and the same HumanEval tasks."""
    from codeuf.evals.report import compare

    pairs = [(name, "base") for name in names if name != "base"]
    judge_arm = next((name for name in names if name.endswith("-judge")), None)
    pairs += [(name, judge_arm) for name in names if name not in ("base", judge_arm) and judge_arm is not None]
    out = []
    for a, b in pairs:
        codal = compare(codal_runs[a], codal_runs[b])["overall"]
        he = paired_bootstrap(humaneval[a]["passed"], humaneval[b]["passed"]).as_dict()
        out.append({"a": a, "b": b, "codal": codal, "humaneval": he})
    return out


# ----------------------------------------------------------------------------- the loop


def run_loop(config: LoopConfig, progress: bool | None = None) -> dict[str, Any]:
    settings = check_loop(config)
    config.out.mkdir(parents=True, exist_ok=True)
    feedback = _build_data(settings, progress)
    base_spec = config.base if config.base.startswith("llamacpp:") else f"llamacpp:{config.base}"
    models, train, skipped = {"base": base_spec}, {}, {}
    for criterion in config.criteria:
        arm = arm_name(config, criterion)
        folder, stats = _pairs(config, settings, feedback, criterion)
        if stats["train"] == 0:
            skipped[arm] = f"no training pairs by {criterion} ({stats['pairs']} pairs in all)"
            continue
        adapter, metrics = _train(config, arm, folder)
        models[arm] = f"llamacpp:{_export(config, arm, adapter).resolve()}"
        train[arm] = _training_summary(metrics, stats)
    codal = _codal(config, models, progress)
    humaneval = {name: _humaneval(config, name, spec) for name, spec in models.items()}
    differences = paired_differences(list(models), codal["runs"], humaneval)
    for result in humaneval.values():
        result.pop("passed")
    comparison = {"models": models, "dataset": str(settings.out), "train": train, "skipped": skipped,
                  "codal": codal["scores"], "humaneval": humaneval, "differences": differences,
                  "bench": config.bench, "judge": config.judge}  # fmt: skip
    atomic_write_text(config.out / "comparison.json", json.dumps(comparison, indent=2) + "\n")
    atomic_write_text(config.out / "comparison.md", comparison_markdown(comparison))
    return comparison


# ----------------------------------------------------------------------------- the table


def _ci(value: float | None, low: float | None, high: float | None, digits: int = 2) -> str:
    if value is None:
        return "N/A"
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def _number(value: float | None) -> str:
    return "N/A" if value is None else f"{value:.4f}"


def _difference(label: str, a: str, b: str, diff: dict[str, Any] | None, unit: str, digits: int) -> str:
    if not diff:
        return f"{label}, {a} - {b}: no paired {unit}"
    return (f"{label}, {a} - {b} ({diff.get('n')} paired {unit}): {diff['difference']:+.{digits}f} "
            f"[{diff['ci_low']:+.{digits}f}, {diff['ci_high']:+.{digits}f}], p = {diff['p_value']:.3f}")  # fmt: skip


def comparison_markdown(c: dict[str, Any]) -> str:
    dataset = next(iter(c["humaneval"].values()))["dataset"]
    lines = [
        f"| model | CODAL-Bench overall (1-10), 95% CI | N/A | {dataset} pass@1, 95% CI | DPO reward accuracy "
        "(held out) |",
        "|---|---|---|---|---|",
    ]
    for name in c["models"]:
        codal, he = c["codal"].get(name) or {}, c["humaneval"][name]
        train = c["train"].get(name)
        reward = "-" if train is None else "n/a (no held-out pairs)" if train["reward_accuracy"] is None else \
            f"{train['reward_accuracy']:.3f}"  # fmt: skip
        lines.append(
            f"| {name} | {_ci(codal.get('value'), codal.get('ci_low'), codal.get('ci_high'))} | "
            f"{codal.get('na', 0)}/{codal.get('items', 0)} | "
            f"{_ci(he['pass@1'], he['ci_low'], he['ci_high'], 3)} ({he['tasks']} tasks) | {reward} |"
        )
    for arm, why in c.get("skipped", {}).items():
        lines.append(f"| {arm} | not trained: {why} | | | |")
    lines.append("")
    for diff in c["differences"]:
        lines.append(_difference("CODAL-Bench difference", diff["a"], diff["b"], diff["codal"], "items", 2))
        lines.append(_difference("\npass@1 difference", diff["a"], diff["b"], diff["humaneval"], "tasks", 3) + "\n")
    for arm, train in c["train"].items():
        lines.append(
            f"{arm}: {train['pairs']} training pairs, {train['held_out_pairs']} held out; first logged loss "
            f"{_number(train['first_loss'])}, mean train loss {_number(train['train_loss'])}\n"
        )
    return "\n".join(lines).rstrip() + "\n"


def print_comparison(comparison: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.markdown import Markdown

    Console().print(Markdown(comparison_markdown(comparison)))
