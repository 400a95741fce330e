"""Line charts as plain SVG, for pages that must open offline (no script, no network)."""

from __future__ import annotations

from html import escape

WIDTH, HEIGHT = 720, 360
LEFT, RIGHT, TOP, BOTTOM = 64, 280, 36, 48
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def span(values: list[float]) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    return (lo - 0.5, hi + 0.5) if lo == hi else (lo, hi)


def label(value: float) -> str:
    return f"{value:.4g}"


def line_chart(
    title: str, x_label: str, y_label: str, series: list[tuple[str, list[float], list[float]]]
) -> str:
    """An SVG chart of `series`, each (name, xs, ys), on shared axes with a legend."""
    points = [(x, y) for _, xs, ys in series for x, y in zip(xs, ys)]
    if not points:
        return f"<p>{escape(title)}: no data</p>"
    (x0, x1), (y0, y1) = span([p[0] for p in points]), span([p[1] for p in points])
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def at(x: float, y: float) -> str:
        return (
            f"{LEFT + (x - x0) / (x1 - x0) * plot_w:.1f},"
            f"{TOP + plot_h - (y - y0) / (y1 - y0) * plot_h:.1f}"
        )

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'font-family="sans-serif" font-size="12">',
        f'<text x="{LEFT}" y="20" font-size="14" font-weight="bold">{escape(title)}</text>',
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" '
        'stroke="#999"/>',
        f'<text x="{LEFT}" y="{HEIGHT - 28}">{label(x0)}</text>',
        f'<text x="{LEFT + plot_w}" y="{HEIGHT - 28}" text-anchor="end">{label(x1)}</text>',
        f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 10}" text-anchor="middle">'
        f"{escape(x_label)}</text>",
        f'<text x="{LEFT - 6}" y="{TOP + plot_h}" text-anchor="end">{label(y0)}</text>',
        f'<text x="{LEFT - 6}" y="{TOP + 10}" text-anchor="end">{label(y1)}</text>',
        f'<text transform="translate(14,{TOP + plot_h / 2}) rotate(-90)" text-anchor="middle">'
        f"{escape(y_label)}</text>",
    ]
    for n, (name, xs, ys) in enumerate(series):
        colour = COLOURS[n % len(COLOURS)]
        path = " ".join(at(x, y) for x, y in zip(xs, ys))
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{path}"/>'
        )
        legend_y = TOP + 14 + 16 * n
        parts.append(
            f'<line x1="{WIDTH - RIGHT + 12}" y1="{legend_y - 4}" x2="{WIDTH - RIGHT + 32}" '
            f'y2="{legend_y - 4}" stroke="{colour}" stroke-width="2"/>'
            f'<text x="{WIDTH - RIGHT + 38}" y="{legend_y}">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)
