"""`codeuf view`: a run in the browser, to read what the judge and the tests did without reading JSONL.

A run folder (its feedback, pairs and manifest), or a dataset in the released schema (a file or a hub id), is
turned into:

- an **index**: one small row per record (preference, models, ratings per judge, N/A, flipped orders, test
  results, the pair made and by which criterion, response lengths) that the page filters in the browser;
- **details** per record: the instruction, each response with its code highlighted (Pygments), every judge's
  rating and rationale, the test result and its reason; loaded a page at a time from the local server, or
  embedded in the self-contained HTML file;
- a **summary**: the plots (inline SVG: ratings per model and per preference, mean rating by position, rating
  against length, pass rates per model and per language, judge-tests agreement, agreement between judges)
  and the judge's biases with their intervals.

The server listens on 127.0.0.1 only. `--html FILE` writes one file that works from disk with no network.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from codeuf.data.schema import NA, FeedbackRecord, rating_value

PAGE = 20


@dataclass
class View:
    source: str
    records: list[FeedbackRecord]
    pairs: dict[str, dict[str, Any]] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)
    scale: int | None = None
    """The top of the rating scale (CODAL-Bench grades 1-10); None: read from the ratings."""
    label: str | None = None
    """Shown instead of each record's preference (a benchmark's name, for a `codeuf humaneval` folder)."""

    def index(self) -> list[dict[str, Any]]:
        rows = [index_row(r, self.pairs.get(r.id)) for r in self.records]
        for row in rows if self.label else []:
            row["preference"] = self.label
        return rows

    def detail(self, record_id: str) -> dict[str, Any] | None:
        record = self._by_id().get(record_id)
        return None if record is None else detail_of(record, self.pairs.get(record_id))

    def search(self, query: str) -> list[str]:
        """Ids of the records whose instruction, responses or rationales hold `query` (case-insensitive)."""
        needle = query.lower()
        return [r.id for r in self.records if needle in _haystack(r)]

    def _by_id(self) -> dict[str, FeedbackRecord]:
        if not hasattr(self, "_ids"):
            self._ids = {r.id: r for r in self.records}
        return self._ids


def load_view(source: str | Path) -> View:
    """A run folder, a folder holding a saved feedback dataset, a JSONL/Parquet file or a hub id."""
    from codeuf.data.sources import load_records
    from codeuf.errors import InputError

    path = Path(source)
    if path.is_dir() and (path / "feedback" / "train.jsonl").is_file():
        records = load_records(path / "feedback" / "train.jsonl", FeedbackRecord)
        pairs = {}
        for split in ("train", "test"):
            file = path / "binarized" / f"{split}.jsonl"
            if file.is_file():
                for line in file.read_text(encoding="utf-8").splitlines():
                    if line.strip():
                        row = json.loads(line)
                        pairs[row["id"]] = {k: row.get(k) for k in ("model_chosen", "model_rejected", "criterion",
                                                                     "orders_disagree", "length_weight")}  # fmt: skip
        manifest = json.loads((path / "manifest.json").read_text()) if (path / "manifest.json").is_file() else {}
        return View(str(path), records, pairs, manifest)
    if path.is_dir() and (path / "answers.jsonl").is_file() and (path / "bench.jsonl").is_file():
        return View(str(path), codal_records(path), scale=10)
    if path.is_dir() and (path / "results.jsonl").is_file() and (path / "samples.jsonl").is_file():
        summary = json.loads((path / "summary.json").read_text()) if (path / "summary.json").is_file() else {}
        return View(str(path), humaneval_records(path, summary), label=str(summary.get("dataset") or "humaneval"))
    if path.is_dir() and (path / "train.jsonl").is_file():
        return View(str(path), load_records(path / "train.jsonl", FeedbackRecord))
    if path.is_dir():
        raise InputError("not a run folder: no feedback/train.jsonl (run `codeuf run` or `codeuf annotate` first)",
                         path=str(path))  # fmt: skip
    return View(str(source), load_records(source, FeedbackRecord))


def codal_records(folder: Path) -> list[FeedbackRecord]:
    """A CODAL-Bench answers folder (`codeuf codal answer`, graded by `codeuf codal grade`) as records: each
    item's instruction, the model's answer beside the reference answers it was graded against, and each
    judge's grade (1-10) with its rationale."""
    from codeuf.evals.codal import CodalAnswer, CodalGrade, CodalItem, read_folder_records

    items = {i.id: i for i in read_folder_records(folder / "bench.jsonl", CodalItem)}
    answers = {a.id: a for a in read_folder_records(folder / "answers.jsonl", CodalAnswer)}
    grades: dict[str, list[CodalGrade]] = defaultdict(list)
    for file in sorted((folder / "grades").glob("*.jsonl")) if (folder / "grades").is_dir() else []:
        for grade in read_folder_records(file, CodalGrade):
            grades[grade.id].append(grade)
    records = []
    for item_id, answer in answers.items():
        item = items.get(item_id)
        if item is None:
            continue
        references = {f"reference ({name})": text for name, text in item.references.items()}
        given = grades.get(item_id, [])
        values = [v for g in given if (v := rating_value(g.rating)) is not None]
        rating = NA if not values else f"{sum(values) / len(values):g}"
        records.append(FeedbackRecord.model_validate({
            "id": item_id, "instruction": item.instruction, "preference": item.preference,
            "models": [answer.model, *references],
            "responses": [{"model": answer.model, "response": answer.answer},
                          *({"model": k, "response": v} for k, v in references.items())],
            "annotations": [{"model": answer.model, "rating": rating,
                             "rationale": " | ".join(g.rationale for g in given if g.rationale)}],
            "judgements": [{"judge": g.judge, "order_index": 0, "order": [answer.model], "ratings": [g.rating],
                            "rationales": [g.rationale], "raw": g.raw} for g in given],
        }))  # fmt: skip
    return records


def humaneval_records(folder: Path, summary: dict[str, Any]) -> list[FeedbackRecord]:
    """A `codeuf humaneval` folder (HumanEval+, MBPP+, stdio, ...) as records: each task's prompt (where the
    benchmark's file can be read), its samples side by side, and each sample's base and plus verdicts."""
    from codeuf.io import read_jsonl_tolerant

    prompts = _task_prompts(summary.get("dataset"), summary.get("data"))
    results = list(read_jsonl_tolerant(folder / "results.jsonl"))
    samples = list(read_jsonl_tolerant(folder / "samples.jsonl"))
    by_task: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = defaultdict(list)
    for sample, result in zip(samples, results, strict=False):
        by_task[str(sample.get("task_id"))].append((sample, result))
    records = []
    for task_id, pairs in by_task.items():
        names = [f"sample {i + 1}" for i in range(len(pairs))]
        executions = []
        for name, (_, result) in zip(names, pairs, strict=True):
            suites = [s for s in (result.get("base"), result.get("plus")) if s is not None]
            passed = sum(s == "pass" for s in suites)
            status = "passed" if suites and passed == len(suites) else "timeout" if "timeout" in suites else "failed"
            executions.append({"model": name, "status": status, "passed": passed, "total": len(suites),
                               "reason": result.get("reason") or "", "language": "python"})  # fmt: skip
        records.append(FeedbackRecord.model_validate({
            "id": task_id, "instruction": prompts.get(task_id, task_id),
            "preference": "instruction-following", "models": names,  # the view shows the benchmark's name
            "responses": [{"model": n, "response": _fenced(s.get("raw") or s.get("solution") or "")}
                          for n, (s, _) in zip(names, pairs, strict=True)],
            "annotations": [], "executions": executions,
        }))  # fmt: skip
    return records


def _fenced(text: str) -> str:
    return text if "```" in text else f"```python\n{text}\n```"


def _task_prompts(dataset: str | None, data: str | None) -> dict[str, str]:
    """The prompts of a benchmark's tasks by id, or {} where its file cannot be read here."""
    if not dataset:
        return {}
    try:
        from codeuf.evals.tasks import get_task

        problems, _ = get_task(dataset).load(data)
    except Exception:  # the file moved, or the benchmark is not installed: the task ids stand in
        return {}
    return {str(p.task_id): str(p.prompt) for p in problems}


# ----------------------------------------------------------------------------- rows


def index_row(record: FeedbackRecord, pair: dict[str, Any] | None) -> dict[str, Any]:
    from codeuf.stages.annotate import flip_rate

    ratings = {a.model: rating_value(a.rating) for a in record.annotations}
    judges: dict[str, dict[str, list[float | None]]] = defaultdict(lambda: defaultdict(list))
    for judgement in record.judgements:
        for model, rating in zip(judgement.order, judgement.ratings, strict=False):
            judges[judgement.judge][model].append(rating_value(rating))
    executions = {e.model: [e.status, e.passed, e.total, e.language] for e in record.executions}
    return {
        "id": record.id,
        "preference": record.preference,
        "models": record.models,
        "instruction": record.instruction[:600],
        "ratings": ratings,
        "judges": {j: {m: _mean(v) for m, v in by.items()} for j, by in judges.items()},
        "na": any(a.rating == NA for a in record.annotations)
        or any(r == NA for j in record.judgements for r in j.ratings),
        "flipped": flip_rate([record])["flips"] > 0,
        "executions": executions,
        "disagree": judge_tests_disagree(ratings, executions),
        "pair": pair,
        "lengths": {r.model: len(r.response) for r in record.responses},
    }


def _mean(values: list[float | None]) -> float | None:
    numbers = [v for v in values if v is not None]
    return round(sum(numbers) / len(numbers), 3) if numbers else None


def judge_tests_disagree(ratings: dict[str, float | None], executions: dict[str, list[Any]]) -> bool:
    """The judge rates a response that fails its tests above one that passes them."""
    passed = [m for m, e in executions.items() if e[0] == "passed" and ratings.get(m) is not None]
    failed = [m for m, e in executions.items() if e[0] in ("failed", "timeout") and ratings.get(m) is not None]
    return any(ratings[f] > ratings[p] for p in passed for f in failed)  # type: ignore[operator]


def detail_of(record: FeedbackRecord, pair: dict[str, Any] | None) -> dict[str, Any]:
    rationales: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for judgement in record.judgements:
        for model, rationale in zip(judgement.order, judgement.rationales, strict=False):
            if rationale:
                rationales[judgement.judge][model].append(rationale)
    executions = {e.model: e.model_dump() for e in record.executions}
    principles = dict(zip(record.models, record.principles, strict=False)) if record.principles else {}
    return {
        "id": record.id,
        "instruction": render_text(record.instruction),
        "responses": [
            {
                "model": r.model,
                "html": render_text(r.response),
                "principle": principles.get(r.model, ""),
                "execution": executions.get(r.model),
            }
            for r in record.responses
        ],
        "annotations": {a.model: {"rating": a.rating, "rationale": a.rationale} for a in record.annotations},
        "rationales": {j: dict(by) for j, by in rationales.items()},
        "errors": {e.model: e.error for e in record.errors},
        "pair": pair,
    }


def _haystack(record: FeedbackRecord) -> str:
    parts = [record.instruction, *(r.response for r in record.responses), *(a.rationale for a in record.annotations)]
    return "\n".join(parts).lower()


_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+#.-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)


def render_text(text: str) -> str:
    """Markdown-ish text as HTML: fenced code highlighted by Pygments (by its label, else guessed), the
    prose between kept as it is written."""
    out, position = [], 0
    for match in _FENCE.finditer(text):
        out.append(f'<div class="prose">{escape(text[position : match.start()])}</div>')
        out.append(highlight_code(match.group(2), match.group(1)))
        position = match.end()
    out.append(f'<div class="prose">{escape(text[position:])}</div>')
    return "".join(part for part in out if part != '<div class="prose"></div>')


def highlight_code(code: str, label: str) -> str:
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import TextLexer, get_lexer_by_name
    from pygments.util import ClassNotFound

    try:
        lexer = get_lexer_by_name(label or "text")
    except ClassNotFound:
        lexer = TextLexer()
    language = escape(label or "code")
    return (f'<div class="code"><span class="lang">{language}</span>'
            f"{highlight(code, lexer, HtmlFormatter(cssclass='hl'))}</div>")  # fmt: skip


def code_style() -> str:
    from pygments.formatters import HtmlFormatter

    return str(HtmlFormatter(style="default").get_style_defs(".hl"))


# ----------------------------------------------------------------------------- the summary


def summary_of(view: View, seed: int = 0) -> dict[str, Any]:
    """Counts, plots (inline SVG) and the judge's biases."""
    from codeuf import svg
    from codeuf.data.card import bias_lines
    from codeuf.stages.biases import measure_biases
    from codeuf.stages.binarize import judge_vs_tests, pass_rates_per_language

    records = view.records
    scale = view.scale or rating_scale(records)
    buckets = [*map(str, range(1, scale + 1)), NA]
    per_model: dict[str, Counter[str]] = defaultdict(Counter)
    per_preference: dict[str, Counter[str]] = defaultdict(Counter)
    points = []
    lengths = {(r.id, x.model): len(x.response) for r in records for x in r.responses}
    for record in records:
        for annotation in record.annotations:
            value = rating_value(annotation.rating)
            bucket = NA if value is None else str(min(scale, max(1, int(value + 0.5))))
            per_model[annotation.model][bucket] += 1
            per_preference[view.label or record.preference][bucket] += 1
            if value is not None and (record.id, annotation.model) in lengths:
                points.append((float(lengths[(record.id, annotation.model)]), value))
    biases = measure_biases(records, _specs(view.manifest), seed)
    plots = []
    if per_model:  # a benchmark's samples carry verdicts, not ratings
        plots.append(svg.stacked_counts("Ratings per model", dict(sorted(per_model.items())), buckets))
        plots.append(svg.stacked_counts("Ratings per preference", dict(sorted(per_preference.items())), buckets))
    for judge, figures in biases["position"].items():
        rows = [(f"position {i + 1}", m) for i, m in enumerate(figures["mean_by_position"])]
        plots.append(svg.estimates(f"Mean rating by position shown ({judge})", rows, 0, scale))
    if points:
        plots.append(svg.scatter("Rating against response length", points, "characters", "rating"))
    plots.extend(_pass_rate_plots(records, seed, pass_rates_per_language))
    vs = (view.manifest.get("binarized") or {}).get("judge_vs_tests") or judge_vs_tests(records, seed)
    if vs.get("pass_fail_pairs"):
        rows = [("judge-tests agreement", vs["agreement"])]
        if vs.get("pass_rate_pairs"):
            rows.append(("pass-rate agreement", vs["pass_rate_agreement"]))
        plots.append(svg.estimates("Judge rates the response passing more tests higher", rows, 0, 1))
    return {
        "source": view.source,
        "records": len(records),
        "scale": scale,
        "models": sorted({m for r in records for m in r.models}),
        "preferences": [view.label] if view.label else sorted({r.preference for r in records}),
        "judges": sorted({j.judge for r in records for j in r.judgements}),
        "criteria": sorted({p["criterion"] for p in view.pairs.values() if p.get("criterion")}),
        "plots": plots,
        "biases": biases,
        "judge_agreement": judge_agreement(records),
        "bias_lines": [line.removeprefix("- ") for line in bias_lines(biases, _chosen_longer(view))],
    }


def _chosen_longer(view: View) -> dict[str, Any] | None:
    return (view.manifest.get("binarized") or {}).get("chosen_longer")


def rating_scale(records: list[FeedbackRecord]) -> int:
    """5 (the feedback's 1-5 ratings) or 10 (CODAL-Bench's 1-10 grades)."""
    values = (rating_value(a.rating) for r in records for a in r.annotations)
    return 10 if any(v is not None and v > 5 for v in values) else 5


def _pass_rate_plots(records: list[FeedbackRecord], seed: int, per_language: Any) -> list[str]:
    from codeuf import svg
    from codeuf.stats import bootstrap_mean

    outcomes: dict[str, list[float]] = defaultdict(list)
    for record in records:
        for e in record.executions:
            if e.status != "not_executed" and e.total > 0:
                outcomes[e.model].append(float(e.status == "passed"))
    if not outcomes:
        return []
    by_model = [(m, bootstrap_mean(v, seed=seed).as_dict()) for m, v in sorted(outcomes.items())]
    by_language = list(per_language(records, seed).items())
    return [svg.estimates("Pass rate per model (all tests passed)", by_model, 0, 1),
            svg.estimates("Pass rate per language", by_language, 0, 1)]  # fmt: skip


def judge_agreement(records: list[FeedbackRecord]) -> list[dict[str, Any]]:
    """For each pair of judges: Spearman's correlation of their mean ratings of the same responses."""
    from codeuf.stats import spearman

    ratings: dict[str, dict[tuple[str, str], float]] = defaultdict(dict)
    for record in records:
        seen: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        for judgement in record.judgements:
            for model, rating in zip(judgement.order, judgement.ratings, strict=False):
                value = rating_value(rating)
                if value is not None:
                    seen[judgement.judge][model].append(value)
        for judge, by in seen.items():
            for model, values in by.items():
                ratings[judge][(record.id, model)] = sum(values) / len(values)
    out = []
    for a, b in itertools.combinations(sorted(ratings), 2):
        shared = sorted(set(ratings[a]) & set(ratings[b]))
        rho = spearman([ratings[a][k] for k in shared], [ratings[b][k] for k in shared]) if len(shared) > 1 else None
        out.append({"judges": [a, b], "responses": len(shared), "spearman": rho})
    return out


def _specs(manifest: dict[str, Any]) -> dict[str, str]:
    config = manifest.get("config") or {}
    specs = {
        name: entry.get("spec", "") for name, entry in (config.get("pool") or {}).items() if isinstance(entry, dict)
    }
    for judge in config.get("judges") or []:
        if isinstance(judge, dict):
            specs[judge.get("name") or judge.get("spec", "")] = judge.get("spec", "")
    return specs


# ----------------------------------------------------------------------------- the page


def page_html(view: View, embed: bool) -> str:
    """The viewer's page: the index and summary always embedded; the details too when `embed` (the
    self-contained file), else fetched from the server a page at a time."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    data: dict[str, Any] = {"summary": summary_of(view), "index": view.index(), "page": PAGE, "embedded": embed}
    if embed:
        data["details"] = {r.id: detail_of(r, view.pairs.get(r.id)) for r in view.records}
    env = Environment(loader=FileSystemLoader(str(Path(__file__).parent / "templates")),
                      autoescape=select_autoescape(["html", "j2"]))  # fmt: skip
    return env.get_template("viewer.html.j2").render(data=_script_json(data), style=code_style(), title=view.source)


def _script_json(data: Any) -> str:
    """JSON safe inside a <script> element."""
    return json.dumps(data, separators=(",", ":")).replace("</", "<\\/").replace("<!--", "<\\!--")


def write_html(view: View, path: Path) -> Path:
    from codeuf.io import atomic_write_text

    atomic_write_text(path, page_html(view, embed=True))
    return path


# ----------------------------------------------------------------------------- the server


def serve(view: View, port: int = 0, ready: Any = None) -> None:
    """Serve the viewer on 127.0.0.1 until interrupted; `ready(url)` is called once it listens."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qs, urlparse

    page = page_html(view, embed=False).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlparse(self.path)
            query = parse_qs(url.query)
            if url.path in ("/", "/index.html"):
                self._send(page, "text/html; charset=utf-8")
            elif url.path == "/api/details":
                ids = [i for i in ",".join(query.get("ids", [""])).split(",") if i][:200]
                found = {i: d for i in ids if (d := view.detail(i)) is not None}
                self._send(json.dumps(found).encode(), "application/json")
            elif url.path == "/api/search":
                self._send(json.dumps({"ids": view.search(query.get("q", [""])[0])}).encode(), "application/json")
            else:
                self.send_error(404)

        def _send(self, body: bytes, kind: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # quiet: the terminal shows the URL only
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    if ready is not None:
        ready(url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
