"""Server-rendered SVG bar charts: no script, no CDN, colours as SVG attributes (the CSP allows no inline style).

A suppressed cell ("<5") is drawn as no bar with its label, so a chart never shows
more than the table beside it.
"""
from __future__ import annotations

from markupsafe import Markup, escape

PALETTE = ("#1d4e89", "#e0a526", "#c0392b", "#7f8c8d", "#2e8b57", "#6c3483")
ROW, LABEL_W, BAR_W, VALUE_W = 26, 180, 620, 100   # viewBox units; CSS scales the whole to the column


def _number(value) -> float:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def stacked_bars(title: str, rows: list[tuple[str, list]], series: list[str], unit: str = "") -> Markup:
    """Horizontal bars, one per row, stacked by series; a legend on top.

    `rows`: (label, [value per series]); a value may be "<5" (drawn as nothing) or None."""
    legend_h = 28 if len(series) > 1 else 6
    height = legend_h + ROW * max(1, len(rows)) + 8
    width = LABEL_W + BAR_W + VALUE_W
    biggest = max((sum(_number(v) for v in values) for _, values in rows), default=0) or 1
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {width} {height}" '
           f'preserveAspectRatio="xMinYMin meet" font-size="14" font-family="sans-serif">',
           f"<title>{escape(title)}</title>"]
    if len(series) > 1:
        x = LABEL_W
        for i, name in enumerate(series):
            out.append(f'<rect x="{x}" y="6" width="14" height="14" fill="{PALETTE[i % len(PALETTE)]}"/>'
                       f'<text x="{x + 18}" y="18" fill="#222">{escape(name)}</text>')
            x += 30 + sum(15 if ord(ch) > 0x2000 else 8 for ch in name)
    if not rows:
        out.append(f'<text x="{LABEL_W}" y="{legend_h + 18}" fill="#555">（这段时间没有数据）</text>')
    for r, (label, values) in enumerate(rows):
        y = legend_h + r * ROW
        out.append(f'<text x="{LABEL_W - 8}" y="{y + 17}" text-anchor="end" fill="#222">'
                   f"{escape(_clip(str(label)))}</text>")
        x = float(LABEL_W)
        for i, value in enumerate(values):
            w = BAR_W * _number(value) / biggest
            if w > 0:
                out.append(f'<rect x="{x:.1f}" y="{y + 4}" width="{w:.1f}" height="{ROW - 8}" '
                           f'fill="{PALETTE[i % len(PALETTE)]}"><title>{escape(label)} · {escape(series[i])}: '
                           f"{escape(value)}{escape(unit)}</title></rect>")
                x += w
        total = _total(values)
        suffix = unit if isinstance(total, (int, float)) else ""
        out.append(f'<text x="{x + 6:.1f}" y="{y + 17}" fill="#222">{escape(total)}{escape(suffix)}</text>')
    out.append("</svg>")
    return Markup("".join(out))


def bars(title: str, rows: list[tuple[str, object]], unit: str = "") -> Markup:
    """One series of horizontal bars."""
    return stacked_bars(title, [(label, [value]) for label, value in rows], [title], unit)


def _total(values: list):
    """The figure at a bar's end: the sum when every part is shown, else "<5" if it is all there is."""
    shown = [v for v in values if v is not None]
    if not shown:
        return "—"
    if len(shown) == 1:
        return shown[0]
    if any(isinstance(v, str) for v in shown):
        numbers = [v for v in shown if not isinstance(v, str)]
        return f"≥{sum(numbers)}" if sum(numbers) else "<5"
    return sum(shown)


def _clip(label: str, most: int = 11) -> str:
    return label if len(label) <= most else label[: most - 1] + "…"
