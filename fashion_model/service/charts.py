"""Charts of the web app, drawn on the server as inline SVG (no script, nothing to download):
the attribute-share trend with its biggest mover highlighted, and a product's price history."""

from __future__ import annotations

import math
from html import escape

import pandas as pd

from fashion_model.analytics.reports import Mover

PALETTE = [
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#7f7f7f",
    "#d62728",
]
HIGHLIGHT = "#d62728"
MAX_SERIES = 10


def trend_svg(
    table: pd.DataFrame,
    mover: Mover | None,
    width: int = 820,
    height: int = 340,
    colours: dict[str, str] | None = None,
) -> str:
    """A line per attribute (share %, per period); the biggest mover drawn thick in red, or,
    with `colours` (a shade's own swatch per line), thick in its own colour."""
    shares = table.drop(columns=["products"], errors="ignore")
    if shares.empty:
        return '<p class="empty">No scored products in this selection.</p>'
    order = shares.mean().sort_values(ascending=False).index.tolist()
    shown = order[:MAX_SERIES]
    if mover is not None and mover.attribute not in shown:
        shown[-1] = mover.attribute
    left, right, top, bottom = 48, 170, 16, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    highest = max(1.0, float(shares[shown].max().max()) * 1.05)
    step = next(s for s in (1, 2, 5, 10, 20, 25) if highest / s <= 6)  # round tick values
    peak = float(math.ceil(highest / step) * step)
    periods = [str(p)[:10] for p in shares.index]
    n = len(periods)

    def x(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(value: float) -> float:
        return top + plot_h * (1 - value / peak)

    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        'aria-label="attribute share by period" xmlns="http://www.w3.org/2000/svg">'
    ]
    for k in range(int(peak / step) + 1):
        value = k * step
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y(value):.1f}" '
            f'y2="{y(value):.1f}" class="grid"/>'
        )
        parts.append(
            f'<text x="{left - 6}" y="{y(value) + 4:.1f}" class="tick" '
            f'text-anchor="end">{value:.0f}%</text>'
        )
    step = max(1, n // 8)
    for i, period in enumerate(periods):
        if i % step == 0 or i == n - 1:
            parts.append(
                f'<text x="{x(i):.1f}" y="{height - bottom + 18}" class="tick" '
                f'text-anchor="middle">{escape(period)}</text>'
            )
    legend_y = top + 4
    for index, name in enumerate(shown):
        values = shares[name].fillna(0).tolist()
        main = mover is not None and name == mover.attribute
        colour = HIGHLIGHT if main else PALETTE[index % len(PALETTE)]
        if colours and name in colours:
            colour = colours[name]
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        css = "series mover" if main else "series"
        if colours:  # a pale shade stays visible on the page: a grey casing under its line
            parts.append(f'<polyline points="{points}" fill="none" class="{css} casing"/>')
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{colour}" '
            f'class="{css}" data-attribute="{escape(name)}"/>'
        )
        for i, v in enumerate(values):
            parts.append(
                f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="{3.5 if main else 2}" '
                f'fill="{colour}"><title>{escape(name)} {escape(periods[i])}: '
                f"{v:.1f}%</title></circle>"
            )
        outline = ' stroke="#9a9a9a" stroke-width="0.6"' if colours else ""
        parts.append(
            f'<rect x="{width - right + 14}" y="{legend_y - 9}" width="12" height="4" '
            f'fill="{colour}"{outline}/>'
        )
        weight = ' font-weight="bold"' if main else ""
        parts.append(
            f'<text x="{width - right + 32}" y="{legend_y - 4}" class="legend"{weight}>'
            f"{escape(name)}</text>"
        )
        legend_y += 18
    parts.append("</svg>")
    return "".join(parts)


def price_svg(prices: pd.DataFrame, width: int = 420, height: int = 140) -> str:
    """A product's observed price over time (one currency: the latest one)."""
    prices = prices.dropna(subset=["price"])
    if prices.empty:
        return '<p class="empty">No price observed yet.</p>'
    if len(prices) == 1:
        only = prices.iloc[0]
        day = escape(str(only["observed_on"])[:10])
        price = f"{only['price']:.2f} {escape(str(only['currency']))}"
        return f'<p class="empty">{price} on {day} (one observation so far).</p>'
    currency = prices["currency"].iloc[-1]
    prices = prices[prices["currency"] == currency]
    values = prices["price"].astype(float).tolist()
    low, high = min(values), max(values)
    span = (high - low) or max(1.0, high * 0.1)
    left, right, top, bottom = 52, 12, 12, 26
    n = len(values)

    def x(i: int) -> float:
        return left + ((width - left - right) * i / (n - 1) if n > 1 else (width - left) / 2)

    def y(v: float) -> float:
        return top + (height - top - bottom) * (1 - (v - low + span * 0.1) / (span * 1.2))

    points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
    days = [str(d)[:10] for d in prices["observed_on"]]
    return "".join(
        [
            f'<svg class="chart price" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="price history" xmlns="http://www.w3.org/2000/svg">',
            f'<polyline points="{points}" fill="none" stroke="{PALETTE[0]}" stroke-width="2"/>',
            *(
                f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3" fill="{PALETTE[0]}"><title>'
                f"{escape(days[i])}: {v:.2f} {escape(str(currency))}</title></circle>"
                for i, v in enumerate(values)
            ),
            f'<text x="{left - 6}" y="{y(high) + 4:.1f}" class="tick" text-anchor="end">'
            f"{high:.2f}</text>",
            f'<text x="{left - 6}" y="{y(low) + 4:.1f}" class="tick" text-anchor="end">'
            f"{low:.2f}</text>",
            f'<text x="{left}" y="{height - 6}" class="tick">{escape(days[0])}</text>',
            f'<text x="{width - right}" y="{height - 6}" class="tick" text-anchor="end">'
            f"{escape(days[-1])} ({escape(str(currency))})</text>",
            "</svg>",
        ]
    )
