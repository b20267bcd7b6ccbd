"""How ``/consultations`` looks: the week as text, as a PNG (mentors as rows, days as
columns, booked and free slots), and as one ``.ics`` of its meetings.

The PNG is drawn with Matplotlib's object API on the Agg canvas in a worker thread, as the
``/stats`` chart is (``bot/views/charts.py``); Matplotlib is loaded with the first drawing.
"""

from __future__ import annotations

import asyncio
import html
import io
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from aiogram.utils.i18n import gettext as _

from bot.domain.consultations import Week
from bot.domain.office_hours import Slot
from bot.views.dates import day_label, zone_text

FREE_COLOUR = "#009E73"  # Okabe-Ito green and vermillion: told apart by colour-blind readers
BOOKED_COLOUR = "#D55E00"
NAME_LIMIT = 28
DPI = 160


def week_title(week: Week, zone_name: str) -> str:
    last = week.first_day + timedelta(days=6)
    return _("Consultations, week {first}–{last} ({zone})").format(
        first=f"{week.first_day:%d.%m}", last=f"{last:%d.%m.%Y}", zone=zone_text(zone_name)
    )


def week_text(week: Week, viewer_zone: tzinfo, zone_name: str) -> str:
    lines = [f"<b>{week_title(week, zone_name)}</b>", ""]
    if week.meetings:
        current = None
        for meeting in week.meetings:
            local = meeting.starts_at.astimezone(viewer_zone)
            if local.date() != current:
                current = local.date()
                lines.append(f"<b>{day_label(current)}</b>")
            lines.append(f"  {local:%H:%M} #{meeting.id} {html.escape(meeting.title[:80])}")
    else:
        lines.append(_("No consultations or meetings this week."))
    if week.mentors:
        lines += ["", _("Mentors' office hours:")]
        lines += [
            "• "
            + _("{mentor}: {booked} booked, {free} free").format(
                mentor=html.escape(row.mentor.display_name[:NAME_LIMIT]),
                booked=len(row.booked),
                free=len(row.free),
            )
            for row in week.mentors
        ]
    else:
        lines += ["", _("No mentor has set office hours yet (/hours).")]
    return "\n".join(lines)


@dataclass(frozen=True)
class WeekText:
    title: str
    days: list[str]  # seven labels, Monday first
    free: str
    booked: str
    empty: str


def week_labels(week: Week, zone_name: str) -> WeekText:
    return WeekText(
        title=week_title(week, zone_name),
        days=[day_label(week.first_day + timedelta(days=n)) for n in range(7)],
        free=_("free"),
        booked=_("booked"),
        empty=_("No mentor has set office hours yet (/hours)."),
    )


def _spans(slots: list[Slot], start: datetime, viewer_zone: tzinfo) -> list[tuple[float, float]]:
    """Each slot as (day index + fraction of the day, length in days), in the viewer's zone."""
    spans = []
    for slot in slots:
        local = slot.starts.astimezone(viewer_zone)
        day = (local.date() - start.astimezone(viewer_zone).date()).days
        fraction = (local.hour * 60 + local.minute) / 1440
        spans.append((day + fraction, (slot.ends - slot.starts).total_seconds() / 86400))
    return spans


def draw_week(week: Week, viewer_zone: tzinfo, text: WeekText) -> bytes:
    import matplotlib  # noqa: PLC0415 - loaded with the first drawing (see above)

    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415
    from matplotlib.patches import Patch  # noqa: PLC0415

    rows = max(1, len(week.mentors))
    figure = Figure(figsize=(9.0, 1.6 + 0.55 * rows), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for row, mentor in enumerate(week.mentors):
        y = rows - 1 - row
        axes.broken_barh(
            _spans(mentor.free, week.starts, viewer_zone), (y - 0.35, 0.7), color=FREE_COLOUR
        )
        axes.broken_barh(
            _spans(mentor.booked, week.starts, viewer_zone), (y - 0.35, 0.7), color=BOOKED_COLOUR
        )
    axes.set_xlim(0, 7)
    axes.set_ylim(-0.6, rows - 0.4)
    axes.set_xticks([n + 0.5 for n in range(7)], text.days)
    axes.set_xticks(range(8), minor=True)
    axes.tick_params(axis="x", which="major", length=0)
    axes.grid(axis="x", which="minor", color="#CCCCCC")
    axes.set_yticks(
        range(rows),
        [m.mentor.display_name[:NAME_LIMIT] for m in reversed(week.mentors)] or [text.empty],
    )
    axes.set_title(text.title)
    axes.legend(
        handles=[
            Patch(color=FREE_COLOUR, label=text.free),
            Patch(color=BOOKED_COLOUR, label=text.booked),
        ],
        loc="upper right",
        fontsize="small",
    )
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


async def render_week(week: Week, viewer_zone: tzinfo, text: WeekText) -> bytes:
    return await asyncio.to_thread(draw_week, week, viewer_zone, text)
