"""`codeuf loop`: the paper's loop, closed, on one machine.

1. build a preference dataset with `codeuf run` (the embedded model's demo pool and judge);
2. DPO the base model on it (a shipped recipe, `cpu-dpo` by default);
3. export the trained model to GGUF;
4. answer and grade CODAL-Bench (a local bench file) with base and trained, same judge;
5. HumanEval+ (or HumanEval offline) pass@1 for both, same prompts and decoding;
6. one comparison table: CODAL scores with 95% bootstrap CIs and the paired difference, pass@1
   with a bootstrap CI over tasks and the paired difference, and the DPO reward accuracy on the held-out pairs.

Every step resumes: the run, the answers and the grades are cached and appended; training and
export are skipped when their outputs exist. The table is written to comparison.json and .md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from codeuf.config import checked_spec
from codeuf.data.io import atomic_write_text
from codeuf.stats import bootstrap_mean, paired_bootstrap
from codeuf.train.run import losses

BUILTIN_BENCH = Path(__file__).resolve().parents[1] / "data" / "builtin" / "codal_mini.jsonl"


class LoopConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    out: Path = Field(Path("runs/loop"), strict=False)
    base: str = Field("default", description="The model to align: the embedded default or a .gguf.")
    run_config: Path | None = Field(
        None, strict=False, description="A `codeuf run` config; none: the embedded demo pool."
    )
    instructions: int = Field(24, ge=2, description="Instructions for the dataset (with the demo pool).")
    test_fraction: float = Field(0.25, gt=0, lt=1, description="Held-out pairs, for the DPO reward accuracy.")
    recipe: str = "cpu-dpo"
    train_overrides: list[str] = Field(default_factory=lambda: ["--max_steps", "16"], description="Recipe overrides.")
    outtype: str = "f16"
    bench: str = str(BUILTIN_BENCH)
    judge: str = "llamacpp:default"
    judge_max_tokens: int = 400
    rationale_chars: int = 48
    reference: str = "gpt-4-turbo"
    answer_max_tokens: int = 256
    humaneval_dataset: str | None = None
    humaneval_data: Path | None = Field(None, strict=False)
    humaneval_limit: int | None = Field(40, ge=1)
    humaneval_max_tokens: int = 256
    concurrency: int = Field(4, ge=1)

    _judge = field_validator("judge")(checked_spec)


def load_loop_config(path: Path | None) -> LoopConfig:
    if path is None:
        return LoopConfig()
    from codeuf.config import read_yaml_mapping, validated

    return validated(LoopConfig, *read_yaml_mapping(Path(path)), path=path)


def _build_data(config: LoopConfig, progress: bool | None) -> Path:
    from codeuf.config import default_config, load_config, with_overrides
    from codeuf.stages.pipeline import run_pipeline

    base = load_config(config.run_config) if config.run_config else default_config()
    settings = with_overrides(base, out=config.out / "data", n=config.instructions,
                              test_fraction=config.test_fraction, concurrency=config.concurrency)  # fmt: skip
    summary = run_pipeline(settings, progress=progress)
    if summary.failures:
        from codeuf.errors import CallsFailedError

        raise CallsFailedError(summary.failures)  # no training on a dataset with holes: rerun to complete it
    return config.out / "data"


def _train(config: LoopConfig, data: Path) -> tuple[Path, dict[str, Any]]:
    from codeuf.train.recipe import load_recipe
    from codeuf.train.run import train

    out = config.out / "dpo"
    if (out / "metrics.json").is_file():
        return out, json.loads((out / "metrics.json").read_text())
    overrides = ["--model", config.base, "--dataset", str(data), "--output_dir", str(out), *config.train_overrides]
    return out, train("dpo", load_recipe("dpo", config.recipe, overrides))


def _export(config: LoopConfig, adapter: Path) -> Path:
    from codeuf.train.export import export

    gguf = config.out / "trained.gguf"
    if not gguf.is_file():
        export(adapter, gguf, config.outtype)
    return gguf


def _codal(config: LoopConfig, models: dict[str, str], progress: bool | None) -> dict[str, Any]:
    from codeuf.bench.codal import answer_bench, grade_answers, load_bench
    from codeuf.bench.report import build_report, write_report_files
    from codeuf.config import JudgeConfig
    from codeuf.stages.session import StageSession

    items = load_bench(config.bench)
    judge = JudgeConfig(spec=config.judge, name="judge", max_tokens=config.judge_max_tokens,
                        rationale_chars=config.rationale_chars)  # fmt: skip
    dirs = []
    for name, spec in models.items():
        folder = config.out / "codal" / name
        session = StageSession(folder / "cache.sqlite", config.concurrency, progress)
        try:
            answer_bench(items, spec, folder, session, label=name, max_tokens=config.answer_max_tokens,
                         prompt_format=None, source=config.bench)  # fmt: skip
            grade_answers(folder, judge, session, reference_model=config.reference)
        finally:
            session.close()
        session.raise_if_failed()
        dirs.append(folder)
    report = build_report(dirs)
    write_report_files(report, config.out / "codal" / "report")
    return report


def _humaneval(config: LoopConfig, name: str, spec: str) -> dict[str, Any]:
    from codeuf.bench.humaneval_run import HumanEvalOptions, run_humaneval

    out = config.out / "humaneval" / name
    run_humaneval(HumanEvalOptions(model=spec, dataset=config.humaneval_dataset, data=config.humaneval_data,
                                   mode="completion", max_tokens=config.humaneval_max_tokens,
                                   limit=config.humaneval_limit, out=out, concurrency=config.concurrency))  # fmt: skip
    summary = json.loads((out / "summary.json").read_text())
    plus = summary["dataset"] != "humaneval"
    passed = []
    for line in (out / "results.jsonl").read_text().splitlines():
        result = json.loads(line)
        passed.append(float(result["base"] == "pass" and (not plus or result["plus"] == "pass")))
    estimate = bootstrap_mean(passed)
    return {"dataset": summary["dataset"], "tasks": summary["tasks"], "pass@1": estimate.value,
            "ci_low": estimate.low, "ci_high": estimate.high, "base_pass@1": summary["base"]["pass@1"],
            "passed": passed}  # fmt: skip


def _dpo_minus_base(report: dict[str, Any]) -> dict[str, Any] | None:
    """The report's paired CODAL test, oriented as dpo - base (the report computes a - b in run order)."""
    comparison = next(iter(report["comparisons"]), None)
    if not comparison or not comparison["overall"]:
        return None
    test = dict(comparison["overall"])
    if comparison["a"] != "dpo":
        # 0.0 - x, not -x: no "-0.00" in the table.
        test.update(difference=0.0 - test["difference"], ci_low=0.0 - test["ci_high"], ci_high=0.0 - test["ci_low"])
    return test


def check_loop(config: LoopConfig) -> None:
    """What would otherwise fail hours in (after building data or training), checked before anything runs."""
    from codeuf.bench.codal import load_bench
    from codeuf.config import load_config
    from codeuf.data.io import check_writable_dir
    from codeuf.errors import InputError
    from codeuf.train.recipe import recipe_path, shipped_recipes

    check_writable_dir(config.out, "out")
    if config.run_config is not None:
        load_config(config.run_config)
    load_bench(config.bench)
    if not recipe_path(config.recipe).is_file():
        raise InputError(f"recipe not found (shipped: {', '.join(shipped_recipes())})", field="recipe")


def run_loop(config: LoopConfig, progress: bool | None = None) -> dict[str, Any]:
    check_loop(config)
    config.out.mkdir(parents=True, exist_ok=True)
    data = _build_data(config, progress)
    adapter, metrics = _train(config, data)
    gguf = _export(config, adapter)
    base_spec = config.base if config.base.startswith("llamacpp:") else f"llamacpp:{config.base}"
    models = {"base": base_spec, "dpo": f"llamacpp:{gguf.resolve()}"}
    report = _codal(config, models, progress)
    humaneval = {name: _humaneval(config, name, spec) for name, spec in models.items()}
    # Same tasks in the same order for both models, so pass/fail pairs up task by task.
    he_difference = paired_bootstrap(humaneval["dpo"].pop("passed"), humaneval["base"].pop("passed")).as_dict()
    evaluation = metrics.get("eval") or {}
    scores = {s["model"]: s["overall"] for s in report["scores"]}
    comparison = {
        "models": models,
        "dataset": str(data),
        "train": {
            "pairs": metrics.get("train_rows"),
            "held_out_pairs": metrics.get("eval_rows"),
            "reward_accuracy": evaluation.get("eval_rewards/accuracies"),
            "reward_margin": evaluation.get("eval_rewards/margins"),
            "first_loss": next(iter(losses(metrics)), None),
            "train_loss": metrics.get("train", {}).get("train_loss"),
        },
        "codal": {name: scores.get(name) for name in models},
        "codal_difference": _dpo_minus_base(report),
        "humaneval": humaneval,
        "humaneval_difference": he_difference,
        "bench": config.bench,
        "judge": config.judge,
    }
    atomic_write_text(config.out / "comparison.json", json.dumps(comparison, indent=2) + "\n")
    atomic_write_text(config.out / "comparison.md", comparison_markdown(comparison))
    return comparison


def _ci(value: float | None, low: float | None, high: float | None, digits: int = 2) -> str:
    if value is None:
        return "N/A"
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def _number(value: float | None) -> str:
    return "N/A" if value is None else f"{value:.4f}"


def comparison_markdown(c: dict[str, Any]) -> str:
    train = c["train"]
    accuracy = "n/a (no held-out pairs)" if train["reward_accuracy"] is None else f"{train['reward_accuracy']:.3f}"
    lines = [
        "| model | CODAL-Bench overall (1-10), 95% CI | N/A | "
        f"{next(iter(c['humaneval'].values()))['dataset']} pass@1, 95% CI | DPO reward accuracy (held out) |",
        "|---|---|---|---|---|",
    ]
    for name in c["models"]:
        codal = c["codal"].get(name) or {}
        he = c["humaneval"][name]
        reward = accuracy if name == "dpo" else "-"
        lines.append(
            f"| {name} | {_ci(codal.get('value'), codal.get('ci_low'), codal.get('ci_high'))} | "
            f"{codal.get('na', 0)}/{codal.get('items', 0)} | "
            f"{_ci(he['pass@1'], he['ci_low'], he['ci_high'], 3)} ({he['tasks']} tasks) | {reward} |"
        )
    for label, key, unit, digits in (("CODAL-Bench", "codal_difference", "items", 2),
                                     ("pass@1", "humaneval_difference", "tasks", 3)):  # fmt: skip
        diff = c.get(key)
        if diff:
            lines.append(
                f"\n{label} difference, dpo - base ({diff.get('n')} paired {unit}): "
                f"{diff['difference']:+.{digits}f} [{diff['ci_low']:+.{digits}f}, {diff['ci_high']:+.{digits}f}], "
                f"p = {diff['p_value']:.3f}"
            )
    lines.append(
        f"\nDPO: {train['pairs']} training pairs, {train['held_out_pairs']} held out; first logged loss "
        f"{_number(train['first_loss'])}, mean train loss {_number(train['train_loss'])}"
    )
    return "\n".join(lines) + "\n"


def print_comparison(comparison: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.markdown import Markdown

    Console().print(Markdown(comparison_markdown(comparison)))
