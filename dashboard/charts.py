"""Charts drawn on the server as inline SVG: no script, no colour-only meaning (every bar carries
its number as text and a title; a full meter says so in words)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal

from markupsafe import Markup, escape


def whole_percent(share: float) -> int:
    """A share (0..1) as a whole percentage, halves rounded up (12.5% is 13%, as people round;
    Python's ``round`` made it 12%), from the share as written (0.145 is 15%, not the 14 its
    binary float times 100 would give)."""
    return int((Decimal(repr(share)) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def percent(share: float | None) -> str:
    """A share (0..1) as a whole percentage; "no data" when there was nothing to divide."""
    return "no data" if share is None else f"{whole_percent(share)}%"


def used_percent(used: int, limit: int) -> int:
    """How much of a quota is used, in whole percent rounded down: 100% only once the limit is
    reached (999 of 1,000 is 99%, never the 100% that reads as full)."""
    whole = math.floor(100 * used / limit)
    return min(whole, 99) if used < limit else whole


def usage_bar(label: str, used: int, limit: int | None, *, width: int = 320) -> Markup:
    """A meter: ``used`` of ``limit`` (None: unlimited), with the figures written out."""
    if limit is None or limit <= 0:
        share = 0.0
        text = f"{used:,} used (no limit)"
    else:
        share = min(1.0, used / limit)
        text = f"{used:,} of {limit:,} ({used_percent(used, limit)}%)"
    over = limit is not None and limit > 0 and used >= limit
    fill_width = round(share * width)
    if not over:
        fill_width = min(fill_width, width - 1)  # a full bar only once the limit is reached
    state = "over" if over else ("near" if share >= 0.8 else "ok")
    title = escape(f"{label}: {text}")
    return Markup(  # noqa: S704 - every interpolated text is escaped above
        f'<svg class="meter meter-{state}" role="img" aria-label="{title}" '
        f'width="{width}" height="14" viewBox="0 0 {width} 14">'
        f"<title>{title}</title>"
        f'<rect class="meter-track" x="0" y="0" width="{width}" height="14" rx="3"/>'
        f'<rect class="meter-fill" x="0" y="0" width="{fill_width}" height="14" rx="3"/>'
        + f'</svg> <span class="meter-text">{escape(text)}{" (limit reached)" if over else ""}'
        "</span>"
    )


def bar_chart(
    label: str,
    points: Sequence[tuple[str, int]],
    *,
    chart_id: str,
    hatched: bool = False,
    width: int = 480,
    height: int = 170,
    max_labels: int = 5,
) -> Markup:
    """Vertical bars, one per point (a day), readable without colour: the chart's summary (total
    and peak) as its accessible name and title, each bar's figure as its own title, the values
    written above the bars when there is room, the scale written at the left, and ``hatched``
    bars drawn with a diagonal pattern rather than another colour. The caller also gives the
    figures as a table."""
    if not points:
        return Markup('<p class="muted">No data yet.</p>')
    total = sum(value for _, value in points)
    peak_name, peak = max(points, key=lambda point: point[1])
    summary = f"{label}: {total:,} in all" + (
        f", at most {peak:,} on {peak_name}" if peak else ", none in this range"
    )
    top = peak or 1
    left, right, above, below = 40, 4, 22, 24
    plot_w, plot_h = width - left - right, height - above - below
    slot = plot_w / len(points)
    bar = max(2.0, slot * 0.7)
    every = max(1, -(-len(points) // max_labels))  # ceil: at most max_labels names under bars
    values_fit = slot >= 7 * len(f"{peak:,}")  # room above each bar for the widest figure
    fill = f'fill="url(#{escape(chart_id)}-hatch)" ' if hatched else ""
    kind = "chart-bar-hatched" if hatched else "chart-bar"
    parts = [
        f'<svg class="chart{" chart-dense" if len(points) > 10 else ""}" id="{escape(chart_id)}" '
        f'role="img" aria-label="{escape(summary)}" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
        f"<title>{escape(summary)}</title>"
    ]
    if hatched:
        parts.append(
            f'<defs><pattern id="{escape(chart_id)}-hatch" width="6" height="6" '
            'patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
            '<rect class="hatch-bg" width="6" height="6"/>'
            '<line class="hatch-line" x1="0" y1="0" x2="0" y2="6"/></pattern></defs>'
        )
    base = above + plot_h
    parts.append(
        f'<line class="chart-axis" x1="{left}" y1="{base}" x2="{width - right}" y2="{base}"/>'
        f'<line class="chart-grid" x1="{left}" y1="{above}" x2="{width - right}" y2="{above}"/>'
        + (
            f'<text x="{left - 4}" y="{above + 4}" text-anchor="end">{peak:,}</text>'
            if peak
            else ""
        )
        + f'<text x="{left - 4}" y="{base}" text-anchor="end">0</text>'
    )
    for i, (name, value) in enumerate(points):
        h = round(plot_h * value / top)
        x = round(left + i * slot + (slot - bar) / 2, 1)
        mid = round(x + bar / 2, 1)
        parts.append(
            f"<g><title>{escape(name)}: {value:,}</title>"
            f'<rect class="{kind}" {fill}x="{x}" y="{base - h}" width="{round(bar, 1)}" '
            f'height="{max(h, 0)}"/>'
        )
        if values_fit and value:
            parts.append(
                f'<text class="chart-value" x="{mid}" y="{base - h - 3}" '
                f'text-anchor="middle">{value:,}</text>'
            )
        if i % every == 0:
            parts.append(
                f'<text x="{mid}" y="{height - 5}" text-anchor="middle">{escape(name)}</text>'
            )
        parts.append("</g>")
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - names escaped, values are numbers


def share_bar(label: str, share: float | None, *, width: int = 160) -> Markup:
    """A small horizontal bar for a share (0..1) beside the figure written as text."""
    filled = round(min(1.0, max(0.0, share or 0.0)) * width)
    text = "none" if share is None else f"{whole_percent(share)}%"
    title = escape(f"{label}: {text}")
    return Markup(  # noqa: S704 - the label is escaped, the rest are numbers
        f'<svg class="share" role="img" aria-label="{title}" width="{width}" height="12" '
        f'viewBox="0 0 {width} 12"><title>{title}</title>'
        f'<rect class="meter-track" x="0" y="0" width="{width}" height="12" rx="2"/>'
        f'<rect class="meter-fill" x="0" y="0" width="{filled}" height="12" rx="2"/></svg>'
    )
