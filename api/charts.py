"""Charts drawn on the server as inline SVG: no JavaScript, no external asset, printable."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

PALETTE = ("#1f5fa8", "#3c9d5d", "#e0a100", "#d0542c", "#8e3b9c", "#5b7083", "#17a2b8")
GRADE_COLOURS = {"A": "#2f8f4e", "B": "#2d6cb5", "C": "#e0a100", "D": "#c8402c", "E": "#7a1f1f"}
RISK_COLOURS = {"low": "#2f8f4e", "medium": "#e0a100", "high": "#c8402c", "very_high": "#7a1f1f"}


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[float]
    colour: str


def _text(x: float, y: float, text: str, *, anchor: str = "start", size: int = 12, cls: str = "") -> str:
    klass = f' class="{cls}"' if cls else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}"{klass}>{escape(text)}</text>'


def _text_width(text: str, size: int = 12) -> float:
    """Rough rendered width: CJK characters are square, Latin ones about 0.6 of the size."""
    return sum(size if ord(ch) >= 0x2E80 else size * 0.6 for ch in text)


def _legend(series: Sequence[Series], x: float, y: float, width: float) -> tuple[str, float]:
    """Legend entries left to right, wrapping at ``width``; returns the SVG and its height."""
    parts, dx, dy = [], 0.0, 0.0
    for item in series:
        entry = 16 + _text_width(item.label) + 18
        if dx and x + dx + entry > width:
            dx, dy = 0.0, dy + 18
        parts.append(
            f'<rect x="{x + dx:.1f}" y="{y + dy - 10:.1f}" width="12" height="12" rx="2" fill="{item.colour}"/>'
        )
        parts.append(_text(x + dx + 16, y + dy, item.label, size=12))
        dx += entry
    return "".join(parts), dy + 18


def stacked_bars(categories: Sequence[str], series: Sequence[Series], *, title: str, width: int = 560) -> Markup:
    """Horizontal stacked bars, one per category, with counts; empty data gives an empty frame."""
    row, left, right = 26, 120, 60
    legend, legend_height = _legend(series, 12, 20, width)
    top = 14 + legend_height
    height = top + row * max(len(categories), 1) + 16
    totals = [sum(s.values[i] for s in series) for i in range(len(categories))]
    scale = (width - left - right) / max(max(totals, default=0), 1)
    parts = [legend]
    for i, category in enumerate(categories):
        y = top + i * row
        parts.append(_text(left - 8, y + 15, category, anchor="end"))
        x = float(left)
        for item in series:
            value = item.values[i]
            if value <= 0:
                continue
            w = value * scale
            tip = f"{category} · {item.label}: {value:g}"
            parts.append(
                f'<rect x="{x:.1f}" y="{y + 3}" width="{max(w, 1):.1f}" height="{row - 8}" fill="{item.colour}">'
                f"<title>{escape(tip)}</title></rect>"
            )
            if w > 26:
                parts.append(_text(x + w / 2, y + 16, f"{value:g}", anchor="middle", size=11, cls="on-bar"))
            x += w
        parts.append(_text(x + 6, y + 16, f"{totals[i]:g}", size=11, cls="muted"))
    return _svg(width, height, title, "".join(parts))


def line_chart(
    x_labels: Sequence[str], series: Sequence[Series], *, title: str, width: int = 560, percent: bool = False
) -> Markup:
    """Lines over ordered labels (years), y axis from zero with four grid lines."""
    left, right, bottom = 48, 44, 30
    legend, legend_height = _legend(series, left, 20, width)
    top = 24 + legend_height
    height = top + 170 + bottom
    peak = max((v for s in series for v in s.values), default=0) or 1
    plot_w, plot_h = width - left - right, height - top - bottom
    step = plot_w / max(len(x_labels) - 1, 1)
    parts = [legend]
    for k in range(5):
        value = peak * k / 4
        y = top + plot_h - plot_h * k / 4
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(
            _text(left - 6, y + 4, f"{value:.0%}" if percent else f"{value:,.0f}", anchor="end", size=10, cls="muted")
        )
    for i, label in enumerate(x_labels):
        parts.append(_text(left + i * step, height - 10, label, anchor="middle", size=11))
    for item in series:
        points = [(left + i * step, top + plot_h - plot_h * v / peak) for i, v in enumerate(item.values)]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{item.colour}" stroke-width="2.5"/>')
        for (x, y), v in zip(points, item.values, strict=True):
            shown = f"{v:.1%}" if percent else f"{v:g}"
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{item.colour}"><title>{escape(item.label)}: '
                f"{escape(shown)}</title></circle>"
            )
    return _svg(width, height, title, "".join(parts))


def _svg(width: int, height: int, title: str, body: str) -> Markup:
    return Markup(
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>{body}</svg>'
    )
