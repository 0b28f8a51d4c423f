"""Seconds per DPO step and peak memory: `codeuf train dpo` against a plain TRL script, same run.

Both train the embedded model (converted once) with the same LoRA, data and settings, each in a
fresh process; the step time is the median of the steps after the first (a callback stamps each
step end), and the peak is the process's max RSS. A third run is codeuf with
`precompute_ref_log_probs`, to see whether computing the reference log-probabilities once, before
training, pays off here: it costs a forward pass per training pair up front and saves one per pair
at every step, so it pays off after a number of steps, printed. The three runs alternate, repeated
(`--repeats`), and each figure is the median over the repeats. Prints the ratios side by side.

    python benchmarks/train_step.py [--steps 8] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

MODES = ("trl", "codeuf", "codeuf-precompute")
SETTINGS = {"max_length": 128, "per_device_train_batch_size": 1, "learning_rate": 5e-4, "beta": 0.1,
            "lora_r": 8, "lora_alpha": 16, "lora_target_modules": ["q_proj", "v_proj"], "seed": 0}  # fmt: skip

CHILD = r"""
import json, resource, sys, time
from transformers import TrainerCallback

mode, model, data, out = sys.argv[1:5]
steps, settings = int(sys.argv[5]), json.loads(sys.argv[6])
stamps = []

class Clock(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        stamps.append(time.perf_counter())

start = time.perf_counter()
if mode.startswith("codeuf"):
    import codeuf.train.run as run
    from codeuf.train.recipe import load_recipe
    overrides = ["--model", model, "--dataset", data, "--output_dir", out, "--max_steps", str(steps),
                 "--dataset_test_split", "", "--report_to", "none", "--save_strategy", "no"]
    for key in ("max_length", "per_device_train_batch_size", "learning_rate", "beta", "lora_r", "lora_alpha", "seed"):
        overrides += ["--" + key, str(settings[key])]
    overrides += ["--lora_target_modules", *settings["lora_target_modules"]]
    if mode == "codeuf-precompute":
        overrides += ["--precompute_ref_log_probs", "true"]
    recipe = load_recipe("dpo", "cpu-dpo", overrides)
    build = run.build_trainer
    def patched(*a, **k):
        trainer, info = build(*a, **k)
        trainer.add_callback(Clock())
        return trainer, info
    run.build_trainer = patched
    run.train("dpo", recipe)
else:
    # the plain TRL script a user would write
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer
    rows = [json.loads(l) for l in open(data)]
    ds = Dataset.from_list([{"prompt": [{"role": "user", "content": r["instruction"]}],
                             "chosen": [{"role": "assistant", "content": r["chosen"]}],
                             "rejected": [{"role": "assistant", "content": r["rejected"]}]} for r in rows])
    tokenizer = AutoTokenizer.from_pretrained(model)
    policy = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32)
    args = DPOConfig(output_dir=out, max_steps=steps, max_length=settings["max_length"], beta=settings["beta"],
                     per_device_train_batch_size=settings["per_device_train_batch_size"],
                     learning_rate=settings["learning_rate"], seed=settings["seed"], report_to="none",
                     save_strategy="no", logging_steps=1, activation_checkpointing=False, bf16=False, use_cpu=True,
                     lr_scheduler_type="constant")
    lora = LoraConfig(r=settings["lora_r"], lora_alpha=settings["lora_alpha"],
                      target_modules=settings["lora_target_modules"], task_type="CAUSAL_LM")
    trainer = DPOTrainer(model=policy, args=args, train_dataset=ds, processing_class=tokenizer, peft_config=lora)
    trainer.add_callback(Clock())
    trainer.train()
    trainer.save_model(out)
total = time.perf_counter() - start
gaps = sorted(b - a for a, b in zip(stamps, stamps[1:]))
print(json.dumps({"step_s": gaps[len(gaps) // 2] if gaps else None, "total_s": total,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "steps": len(stamps)}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from codeuf.train.convert import resolve_trainable

    model = resolve_trainable("default")
    with tempfile.TemporaryDirectory(prefix="codeuf-train-bench-") as tmp:
        work = Path(tmp)
        rows = [
            {"instruction": f"Write a Python function number {i} that returns {i} times its argument.",
             "chosen": f"def times_{i}(x):\n    return {i} * x\n", "rejected": f"def f(x):\n    return x + {i}\n"}
            for i in range(64)
        ]  # fmt: skip
        data = work / "pairs.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in rows))
        runs: dict[str, list[dict]] = {mode: [] for mode in MODES}
        for repeat in range(args.repeats):
            for mode in MODES:
                command = [sys.executable, "-c", CHILD, mode, model, str(data), str(work / f"{mode}-{repeat}"),
                           str(args.steps), json.dumps(SETTINGS)]  # fmt: skip
                done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TQDM_DISABLE": "1"})
                if done.returncode != 0:
                    sys.exit(f"{mode} failed:\n{done.stderr[-3000:]}")
                runs[mode].append(json.loads(done.stdout.strip().splitlines()[-1]))
    results = {mode: {key: statistics.median(r[key] for r in rs) for key in ("step_s", "total_s", "peak_mb")}
               for mode, rs in runs.items()}  # fmt: skip
    for mode, r in results.items():
        steps = sorted(run["step_s"] for run in runs[mode])
        print(
            f"{mode:18s} {r['step_s']:.2f} s/step (median of {args.steps - 1} steps after the first; runs "
            f"{steps[0]:.2f}-{steps[-1]:.2f}), whole run {r['total_s']:.1f} s, peak RSS {r['peak_mb']:.0f} MB "
            f"(medians of {args.repeats} runs)"
        )
    trl, ours, pre = results["trl"], results["codeuf"], results["codeuf-precompute"]
    print(
        f"codeuf / TRL: step time {ours['step_s'] / trl['step_s']:.3f}, peak memory "
        f"{ours['peak_mb'] / trl['peak_mb']:.3f} (target: no measurable overhead)"
    )
    print(
        f"precomputed reference / live reference: step time {pre['step_s'] / ours['step_s']:.3f}, whole run "
        f"{pre['total_s'] / ours['total_s']:.3f}, peak memory {pre['peak_mb'] / ours['peak_mb']:.3f}"
    )
    saved = ours["step_s"] - pre["step_s"]
    upfront = pre["total_s"] - ours["total_s"] + args.steps * saved
    if saved > 0:
        batch = SETTINGS["per_device_train_batch_size"]
        epochs = upfront / saved * batch / len(rows)
        print(
            f"precomputing costs {upfront:.1f} s up front ({upfront / len(rows):.2f} s per pair) and saves "
            f"{saved:.2f} s per step: it pays off after {upfront / saved:.0f} steps of batch {batch}, "
            f"{epochs:.2f} epochs of these {len(rows)} pairs"
        )
    else:
        print("precomputing saves no time per step here: it never pays off")


if __name__ == "__main__":
    main()
