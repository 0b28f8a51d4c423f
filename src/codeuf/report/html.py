"""A self-contained HTML report of CODAL-Bench scores: no network, no external files.

A leaderboard (mean [95% CI] per preference and overall), one bar chart per preference with CI
whiskers (inline SVG), and a browser of graded items filterable by preference and model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from codeuf.io import atomic_write_text
from codeuf.preferences import PREFERENCE_NAMES

COLORS = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f")


def bar_chart(title: str, rows: list[tuple[str, dict[str, Any]]], width: int = 420) -> str:
    """Horizontal bars on a 0-10 scale with CI whiskers."""
    height, bar, left = 28 + 30 * len(rows), 18, 150
    scale = (width - left - 20) / 10
    parts = [f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
             f'aria-label="{title}"><text x="4" y="16" class="chart-title">{title}</text>']  # fmt: skip
    for tick in range(0, 11, 2):
        x = left + tick * scale
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="24" y2="{height - 4}" class="grid"/>')
        parts.append(f'<text x="{x:.1f}" y="{height}" class="tick">{tick}</text>')
    for i, (label, e) in enumerate(rows):
        y = 28 + 30 * i
        short = label if len(label) <= 22 else label[:21] + "…"
        parts.append(f'<text x="{left - 6}" y="{y + 13}" class="label">{short}</text>')
        if e["value"] is None:
            parts.append(f'<text x="{left + 4}" y="{y + 13}" class="label-left">no numeric grade</text>')
            continue
        color = COLORS[i % len(COLORS)]
        parts.append(f'<rect x="{left}" y="{y}" width="{e["value"] * scale:.1f}" height="{bar}" fill="{color}">'
                     f"<title>{label}: {e['value']:.2f}</title></rect>")  # fmt: skip
        lo, hi = left + e["ci_low"] * scale, left + e["ci_high"] * scale
        mid = y + bar / 2
        parts.append(f'<path d="M{lo:.1f} {mid} H{hi:.1f} M{lo:.1f} {y + 3} V{y + bar - 3} M{hi:.1f} {y + 3} '
                     f'V{y + bar - 3}" class="whisker"/>')  # fmt: skip
    parts.append("</svg>")
    return "".join(parts)


def render_html(report: dict[str, Any]) -> str:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(str(Path(__file__).parent / "templates")),
                      autoescape=select_autoescape(["html", "j2"]))  # fmt: skip
    several_judges = len({s["judge"] for s in report["scores"]}) > 1
    charts = []
    for scope in ("overall", *PREFERENCE_NAMES):
        rows = []
        for s in report["scores"]:
            estimate = s["overall"] if scope == "overall" else s["per_preference"][scope]
            rows.append((f"{s['model']} ({s['judge']})" if several_judges else s["model"], estimate))
        charts.append(bar_chart(scope, rows))
    return env.get_template("codal.html.j2").render(
        report=report,
        preferences=PREFERENCE_NAMES,
        charts=charts,
        items_json=json.dumps(report["items"]).replace("</", "<\\/"),
        models=sorted({s["model"] for s in report["scores"]}),
    )


def write_html(report: dict[str, Any], path: Path) -> Path:
    atomic_write_text(path, render_html(report))
    return path
