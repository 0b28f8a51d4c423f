"""Configuration, in one place:

- `run`: run configs (RunConfig, PoolModel, TestSynthesis, Price, WarnThresholds): reading, overrides, a run
  folder's own config, `codeuf init`'s starter config; its names are importable from `codeuf.config` itself;
- `reader`: the one YAML reader (the line of every key) and strict validation into pydantic models, which every
  file codeuf reads as configuration goes through (run configs, judge files, recipes, price tables);
- `manifest`: what a run records of its configuration and outcome (manifest.json).

A judge's own settings are `codeuf.judging.config` (judges are files of their own); what a command's calls
share at run time is `codeuf.session`. `reader` and `manifest` sit low in the layers (tests/unit/test_layers.py
ranks them apart), so this package's own names are imported when first used, not at `import codeuf.config`."""

from __future__ import annotations

from typing import Any

_RUN = {"CODE_PREFILL", "MANIFEST", "OPERATIONAL", "OPTION_NAMES", "STARTER", "JudgeConfig", "PoolModel", "Price",
        "RunConfig", "TestSynthesis", "WarnThresholds", "config_changes", "default_config", "load_config",
        "priced_models", "recorded_config", "resolve_config", "with_overrides", "write_starter_config"}  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _RUN:
        from codeuf.config import run

        return getattr(run, name)
    raise AttributeError(f"module 'codeuf.config' has no attribute {name!r}")
