"""Charts drawn on the server as inline SVG: no script, no colour-only meaning (every bar carries
its number as text and a title; a full meter says so in words)."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape


def usage_bar(label: str, used: int, limit: int | None, *, width: int = 320) -> Markup:
    """A meter: ``used`` of ``limit`` (None: unlimited), with the figures written out."""
    if limit is None or limit <= 0:
        share = 0.0
        text = f"{used:,} used (no limit)"
    else:
        share = min(1.0, used / limit)
        text = f"{used:,} of {limit:,} ({round(100 * used / limit)}%)"
    over = limit is not None and limit > 0 and used >= limit
    fill_width = round(share * width)
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
    label: str, points: Sequence[tuple[str, int]], *, width: int = 560, height: int = 160
) -> Markup:
    """Vertical bars with each value written above its bar and the label below."""
    if not points:
        return Markup('<p class="muted">No data yet.</p>')
    top = max(value for _, value in points) or 1
    slot = width / len(points)
    bar = max(4.0, slot * 0.7)
    chart_height = height - 34
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(label)}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}"><title>{escape(label)}</title>'
    ]
    for i, (name, value) in enumerate(points):
        h = round(chart_height * value / top)
        x = round(i * slot + (slot - bar) / 2, 1)
        y = 16 + chart_height - h
        parts.append(
            f"<g><title>{escape(name)}: {value:,}</title>"
            f'<rect class="chart-bar" x="{x}" y="{y}" width="{round(bar, 1)}" height="{h}"/>'
            f'<text x="{round(x + bar / 2, 1)}" y="{y - 3}" text-anchor="middle">{value:,}</text>'
            f'<text x="{round(x + bar / 2, 1)}" y="{height - 4}" text-anchor="middle">'
            f"{escape(name)}</text></g>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - names escaped, values are numbers
