"""Small self-contained SVG charts for the run viewer and the dataset cards: no script, no network, readable
as text. Every chart is a string of one <svg> element."""

from __future__ import annotations

import math
from html import escape
from typing import Any

COLORS = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f", "#bab0ac")
STYLE = "font-family:sans-serif;font-size:11px"


def _frame(title: str, width: int, height: int) -> list[str]:
    return [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
            f'height="{height}" role="img" aria-label="{escape(title)}" style="{STYLE}">',
            f'<text x="4" y="14" font-weight="bold">{escape(title)}</text>']  # fmt: skip


def stacked_counts(title: str, rows: dict[str, dict[str, int]], order: list[str], width: int = 460) -> str:
    """One horizontal bar per row, split by category (for example ratings 1..5 and N/A), as shares."""
    left, bar = 130, 16
    height = 40 + 22 * len(rows)
    parts = _frame(title, width, height)
    for k, category in enumerate(order):  # the legend
        x = left + k * 48
        parts.append(f'<rect x="{x}" y="20" width="10" height="10" fill="{COLORS[k % len(COLORS)]}"/>'
                     f'<text x="{x + 13}" y="29">{escape(category)}</text>')  # fmt: skip
    scale = width - left - 10
    for i, (label, counts) in enumerate(rows.items()):
        y = 38 + 22 * i
        total = sum(counts.values()) or 1
        parts.append(f'<text x="{left - 5}" y="{y + 12}" text-anchor="end">{escape(_short(label))}</text>')
        x = float(left)
        for k, category in enumerate(order):
            share = counts.get(category, 0) / total
            if share:
                parts.append(f'<rect x="{x:.1f}" y="{y}" width="{share * scale:.1f}" height="{bar}" '
                             f'fill="{COLORS[k % len(COLORS)]}"><title>{escape(label)}, {escape(category)}: '
                             f"{counts.get(category, 0)} ({share:.0%})</title></rect>")  # fmt: skip
            x += share * scale
    parts.append("</svg>")
    return "".join(parts)


def estimates(title: str, rows: list[tuple[str, dict[str, Any]]], low: float, high: float, width: int = 460) -> str:
    """One horizontal bar per estimate ({value, ci_low, ci_high, n}) with its interval as a whisker."""
    left, bar = 130, 14
    height = 34 + 22 * len(rows)
    parts = _frame(title, width, height)
    scale = (width - left - 40) / ((high - low) or 1)
    for tick in _ticks(low, high):
        x = left + (tick - low) * scale
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="20" y2="{height - 12}" stroke="#ddd"/>')
        parts.append(f'<text x="{x:.1f}" y="{height - 2}" text-anchor="middle" fill="#666">{tick:g}</text>')
    for i, (label, estimate) in enumerate(rows):
        y = 22 + 22 * i
        parts.append(f'<text x="{left - 5}" y="{y + 11}" text-anchor="end">{escape(_short(label))}</text>')
        value = estimate.get("value")
        if value is None:
            parts.append(f'<text x="{left + 4}" y="{y + 11}" fill="#666">undefined</text>')
            continue
        zero = left + (max(low, min(0.0, high)) - low) * scale
        end = left + (value - low) * scale
        parts.append(f'<rect x="{min(zero, end):.1f}" y="{y}" width="{abs(end - zero):.1f}" height="{bar}" '
                     f'fill="{COLORS[i % len(COLORS)]}"><title>{escape(label)}: {value:.3f} (n = '
                     f"{estimate.get('n', 0)})</title></rect>")  # fmt: skip
        if estimate.get("ci_low") is not None:
            a, b = left + (estimate["ci_low"] - low) * scale, left + (estimate["ci_high"] - low) * scale
            mid = y + bar / 2
            parts.append(f'<line x1="{a:.1f}" x2="{b:.1f}" y1="{mid}" y2="{mid}" stroke="#222"/>'
                         f'<line x1="{a:.1f}" x2="{a:.1f}" y1="{mid - 4}" y2="{mid + 4}" stroke="#222"/>'
                         f'<line x1="{b:.1f}" x2="{b:.1f}" y1="{mid - 4}" y2="{mid + 4}" stroke="#222"/>')  # fmt: skip
        parts.append(f'<text x="{max(end, zero) + 4:.1f}" y="{y + 11}">{value:.2f}</text>')
    parts.append("</svg>")
    return "".join(parts)


def scatter(title: str, points: list[tuple[float, float]], x_label: str, y_label: str, width: int = 460,
            height: int = 220, log_x: bool = True) -> str:  # fmt: skip
    """Points (x, y), x on a log scale where asked, y jittered a little so that equal ratings stay visible."""
    left, bottom, top = 40, 30, 22
    parts = _frame(title, width, height)
    usable = [(x, y) for x, y in points if x > 0 or not log_x]
    if not usable:
        parts.append(f'<text x="{left}" y="{height / 2}" fill="#666">no points</text></svg>')
        return "".join(parts)
    fx = (lambda v: math.log10(v)) if log_x else (lambda v: v)
    xs, ys = [fx(x) for x, _ in usable], [y for _, y in usable]
    x0, x1, y0, y1 = min(xs), max(xs) or 1, min(ys), max(ys)
    sx = (width - left - 10) / ((x1 - x0) or 1)
    sy = (height - top - bottom) / ((y1 - y0) or 1)
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        jitter = ((i * 7919) % 11 - 5) * 0.6
        parts.append(f'<circle cx="{left + (x - x0) * sx:.1f}" cy="{height - bottom - (y - y0) * sy + jitter:.1f}" '
                     f'r="2.2" fill="{COLORS[0]}" fill-opacity="0.5"/>')  # fmt: skip
    parts.append(f'<text x="{width / 2}" y="{height - 4}" text-anchor="middle">{escape(x_label)}'
                 f"{' (log scale)' if log_x else ''}: {_fmt(usable, 0, min)} to {_fmt(usable, 0, max)}</text>"
                 f'<text x="4" y="{top + 10}">{escape(y_label)} {y1:g}</text>'
                 f'<text x="4" y="{height - bottom}">{y0:g}</text></svg>')  # fmt: skip
    return "".join(parts)


def _fmt(points: list[tuple[float, float]], index: int, pick: Any) -> str:
    return f"{pick(p[index] for p in points):g}"


def _ticks(low: float, high: float) -> list[float]:
    span = high - low
    step = 1.0 if span <= 5 else 2.0 if span <= 10 else 10 ** math.floor(math.log10(span))
    if span <= 1:
        step = 0.25
    first = math.ceil(low / step) * step
    return [round(first + k * step, 6) for k in range(int((high - first) / step) + 1)]


def _short(label: str, limit: int = 20) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"
