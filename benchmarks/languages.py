"""Execution coverage and speed per language.

Coverage: on the shared Evol-Instruct sample (../shared/data/evol-codealpaca-4k.jsonl.gz, the paper's source
family), the first fenced block of each reference answer: is its language recognised, does it build, and does
it run to completion (exit 0 within 5 s, stdin empty) in the sandbox? Python is counted by the same rule, so
the table compares languages on one footing. Before this change only Python ran.

Speed: per language, a trivial program's jobs per second in the sandbox (its build cached) against running the
same toolchain's output directly on the same machine, side by side in one run.

    python benchmarks/languages.py [--limit N] [--workers 2]
"""

from __future__ import annotations

import argparse
import functools
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from codeuf.sandbox import SandboxPool
from codeuf.sandbox import languages as langs
from codeuf.sandbox.programs import Program

REPO = Path(__file__).resolve().parents[1]
REFERENCE_DATA = Path(os.environ.get("CODEUF_REFERENCE_DATA") or REPO.parent / "shared" / "data")
DATA = REFERENCE_DATA / "evol-codealpaca-4k.jsonl.gz"

HELLO = {
    "c": '#include <stdio.h>\nint main(void) { puts("hi"); return 0; }',
    "cpp": '#include <iostream>\nint main() { std::cout << "hi\\n"; }',
    "rust": 'fn main() { println!("hi"); }',
    "go": 'package main\nimport "fmt"\nfunc main() { fmt.Println("hi") }',
    "java": 'public class Main { public static void main(String[] a) { System.out.println("hi"); } }',
    "javascript": 'console.log("hi")',
    "php": '<?php echo "hi\\n";',
    "ruby": 'puts "hi"',
    "bash": "echo hi",
    "python": 'print("hi")',
    "csharp": 'class P { static void Main() { System.Console.WriteLine("hi"); } }',
    "perl": 'print "hi\\n";',
    "r": 'cat("hi\\n")',
    "typescript": 'const greeting: string = "hi";\nconsole.log(greeting);',
    "sql": "SELECT 'hi';",
    "mysql": "SELECT 'hi';",
    "mongodb": 'db.greetings.insertOne({ text: "hi" });\nprint(db.greetings.findOne({}, { _id: 0 }).text);',
    "html": "<!DOCTYPE html><html><body><p>hi</p><script>console.log(document.querySelector('p').textContent)</script>"
    "</body></html>",
    "css": "p { color: red; }",
}


WORK = {  # a loop of some ten milliseconds: what a test run of real code costs, beside the start
    "c": '#include <stdio.h>\nint main(void) { unsigned long s = 0; for (unsigned long i = 0; i < 20000000UL; i++) '
         's += i * i % 7; printf("%lu\\n", s); return 0; }',
    "cpp": '#include <iostream>\nint main() { unsigned long s = 0; for (unsigned long i = 0; i < 20000000UL; i++) '
           's += i * i % 7; std::cout << s << "\\n"; }',
    "rust": 'fn main() { let mut s: u64 = 0; for i in 0..20000000u64 { s += i * i % 7; } println!("{}", s); }',
    "go": 'package main\nimport "fmt"\nfunc main() { var s uint64; for i := uint64(0); i < 20000000; i++ '
          '{ s += i * i % 7 }; fmt.Println(s) }',
    "java": 'public class Main { public static void main(String[] a) { long s = 0; for (long i = 0; i < 20000000L; '
            'i++) s += i * i % 7; System.out.println(s); } }',
}  # fmt: skip


def coverage(limit: int | None, workers: int) -> None:
    if not DATA.exists():
        print(f"skipped: {DATA} is absent (the shared reference data)")
        return
    with gzip.open(DATA, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle][:limit]
    # the code of each answer as codeuf reads it (languages.first_code, code_in's rule): its first fenced block,
    # or, with no fence, the whole answer when it reads as one language
    first = [langs.first_code(row["output"]) for row in rows]
    fenced = [bool(langs.blocks(row["output"])) for row in rows]
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    unfenced: Counter[str] = Counter()
    started = time.monotonic()
    with SandboxPool(workers) as pool:

        def one(item: tuple | None) -> tuple[str, str]:
            if item is None:
                return "(no code)", "none"
            language, label, code = item
            if language is None:
                return f"(unrecognised: {label or 'unlabelled'})", "unrecognised"
            if language.toolchain.missing:
                return language.name, "no toolchain"
            result = pool.run_program(language.program(code, time_limit=5))
            if result.build in ("failed", "timeout"):
                return language.name, "build failed"
            return language.name, "ran" if result.runs and result.runs[0].status == "ok" else "run failed"

        with ThreadPoolExecutor(workers) as executor:
            for has_fence, (name, outcome) in zip(fenced, executor.map(one, first), strict=True):
                counts[name][outcome] += 1
                if not has_fence and outcome != "none":
                    unfenced[outcome] += 1
    total = len(rows)
    print(
        f"## Coverage on {total} Evol-Instruct reference answers "
        f"({time.monotonic() - started:.0f} s, {workers} workers)"
    )
    print("| language | answers | share | recognised | built | ran to completion | ran, share of all |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    ran_all = 0
    for name, outcome in sorted(counts.items(), key=lambda kv: -sum(kv[1].values())):
        n = sum(outcome.values())
        built = n - outcome["build failed"] - outcome["no toolchain"] - outcome["unrecognised"] - outcome["none"]
        ran = outcome["ran"]
        ran_all += ran
        recognised = n - outcome["unrecognised"] - outcome["none"]
        print(f"| {name} | {n} | {n / total:.1%} | {recognised} | {built} | {ran} | {ran / total:.1%} |")
    print(f"\nRan to completion, all languages: {ran_all}/{total} = {ran_all / total:.1%} of the answers "
          f"(Python alone: {counts['python']['ran'] / total:.1%}).")  # fmt: skip
    attempted = sum(unfenced.values())
    print(
        f"Of these, answers that are code with no fence: {unfenced['ran']} ran of {attempted} read as code. "
        f"Fenced blocks alone: {ran_all - unfenced['ran']}/{total} = {(ran_all - unfenced['ran']) / total:.1%}."
    )


def speed(jobs: int, programs: dict[str, str], what: str, rounds: int = 5) -> None:
    """Each language: `rounds` alternating batches of `jobs` sandboxed jobs and `jobs` direct runs (so that
    the machine's load falls on both arms alike), the median rate of each."""
    print(f"\n## Speed: {what}, sandboxed (build cached) vs run directly ({rounds} alternating rounds, medians)")
    print("| language | sandbox jobs/s | direct runs/s | ratio |")
    print("|---|---:|---:|---:|")
    with SandboxPool(1) as pool:
        for name, code in programs.items():
            language = langs.get(name)
            if language.toolchain.missing:
                print(f"| {name} | - | - | {language.toolchain.missing} |")
                continue
            program = language.program(code)
            first = pool.run_program(program)
            assert first.runs and first.runs[0].status == "ok", (name, first)
            # a runtime that starts in about a second (jsdom) gets fewer jobs a round, the same for both arms
            count = jobs if first.runs[0].seconds < 0.25 else max(5, jobs // 6)
            with tempfile.TemporaryDirectory() as folder:
                direct = _direct(program, folder)
                sandboxed_rates, direct_rates = [], []
                for _ in range(rounds):
                    sandboxed_rates.append(_rate(functools.partial(pool.run_program, program), count))
                    direct_rates.append(_rate(direct, count))
            sandboxed, plain = statistics.median(sandboxed_rates), statistics.median(direct_rates)
            print(f"| {name} | {sandboxed:.1f} | {plain:.1f} | {sandboxed / plain:.2f} |")


def _rate(job: Callable[[], object], jobs: int) -> float:
    started = time.perf_counter()
    for _ in range(jobs):
        job()
    return jobs / (time.perf_counter() - started)


def _direct(program: Program, folder: str) -> Callable[[], object]:
    """The same build, run as a plain subprocess (in a folder of its own, with the sandbox's environment: the
    host's may slow a runtime down, as NODE_EXTRA_CA_CERTS does Node's start)."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": folder, "TMPDIR": folder, "LANG": "C.UTF-8",
           **program.env}  # fmt: skip
    for name, text in program.files.items():
        Path(folder, name).write_text(text)
    if program.build:
        subprocess.run(program.build, cwd=folder, check=True, capture_output=True, env=env)
    argv = [arg.replace("{build}", folder) for arg in program.run]
    if program.stdins[0]:  # the program itself, for a language read on stdin (SQL)
        stdin = program.stdins[0].encode()
        run = lambda: subprocess.run(argv, cwd=folder, capture_output=True, input=stdin, env=env)  # noqa: E731
    else:
        run = lambda: subprocess.run(argv, cwd=folder, capture_output=True, stdin=subprocess.DEVNULL, env=env)  # noqa: E731
    first = run()
    assert first.returncode == 0, (argv, first.stderr[-500:])  # a direct arm that fails is no baseline
    return run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=60, help="jobs per arm and round")
    args = parser.parse_args()
    ready = {n: "missing" if x.toolchain.missing else "ok" for n, x in langs.REGISTRY.items()}
    print(f"python {sys.version.split()[0]}; toolchains: " + ", ".join(f"{n}: {v}" for n, v in ready.items()))
    speed(args.jobs, HELLO, "a program that prints one line")
    speed(max(3, args.jobs // 20), WORK, "a program that loops 20 million times")
    coverage(args.limit, args.workers)


if __name__ == "__main__":
    main()
