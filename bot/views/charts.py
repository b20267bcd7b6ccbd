"""The PNG chart of requests per week by topic: stacked bars sized to be read on a phone.

Matplotlib's object API with the Agg canvas is used, never pyplot, so no global figure state
is shared between threads; ``render_weekly`` runs the drawing in a worker thread so the event
loop keeps serving updates meanwhile. Matplotlib is loaded with the first chart: a bot that
draws none does not carry its 40 MB.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass

from bot.domain.stats import WeeklySeries

# 1200 x 800 pixels: sharp on a phone screen, well under Telegram's photo limits.
WIDTH_INCHES, HEIGHT_INCHES, DPI = 7.5, 5.0, 160
WIDTH_PX, HEIGHT_PX = 1200, 800
MAX_WEEK_LABELS = 12
# Up to this many bars carry their total above them; more would crowd the chart.
MAX_TOTAL_LABELS = 16
# Colour-blind-safe (Okabe-Ito) colours, one per topic in the topics' order.
PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#F0E442",
    "#999999",
    "#000000",
)
NO_TOPIC_COLOUR = "#BBBBBB"


@dataclass(frozen=True)
class ChartText:
    """The words on the chart, already in the reader's language."""

    title: str
    y_label: str
    x_label: str
    series: list[str]  # one name per topic row of the series
    week_format: str = "%d.%m"


def draw_weekly(series: WeeklySeries, text: ChartText) -> bytes:
    """Stacked bars, one per week, a segment per topic; returns the PNG's bytes."""
    import matplotlib  # noqa: PLC0415 - loaded with the first chart (see above)

    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415
    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415

    figure = Figure(figsize=(WIDTH_INCHES, HEIGHT_INCHES), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    positions = list(range(len(series.weeks)))
    bottoms = [0] * len(series.weeks)
    for row, (topic, counts) in enumerate(zip(series.topics, series.counts, strict=True)):
        colour = NO_TOPIC_COLOUR if topic is None else PALETTE[row % len(PALETTE)]
        axes.bar(
            positions,
            counts,
            bottom=bottoms,
            width=0.75,
            color=colour,
            label=text.series[row],
            edgecolor="white",
            linewidth=0.6,
        )
        bottoms = [b + c for b, c in zip(bottoms, counts, strict=True)]
    if len(positions) <= MAX_TOTAL_LABELS:
        for position, total in zip(positions, bottoms, strict=True):
            if total:
                axes.annotate(
                    str(total),
                    (position, total),
                    xytext=(0, 3),
                    textcoords="offset points",
                    ha="center",
                    va="bottom",
                    fontsize=10,
                )
    step = max(1, -(-len(positions) // MAX_WEEK_LABELS))
    axes.set_xticks(positions[::step])
    axes.set_xticklabels(
        [week.strftime(text.week_format) for week in series.weeks[::step]], fontsize=11
    )
    axes.set_xlim(-0.6, len(positions) - 0.4)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.tick_params(axis="y", labelsize=11)
    axes.set_ylim(0, max([*bottoms, 1]) * 1.12)
    axes.set_title(text.title, fontsize=15, fontweight="bold")
    axes.set_ylabel(text.y_label, fontsize=12)
    axes.set_xlabel(text.x_label, fontsize=12)
    axes.grid(axis="y", color="#DDDDDD", linewidth=0.8)
    axes.set_axisbelow(True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    if series.topics:
        axes.legend(
            loc="upper center",
            bbox_to_anchor=(0.5, -0.14),
            ncols=min(3, len(series.topics)),
            fontsize=10,
            frameon=False,
        )
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


async def render_weekly(series: WeeklySeries, text: ChartText) -> bytes:
    """Draw the chart in a worker thread."""
    return await asyncio.to_thread(draw_weekly, series, text)
