"""``/report``: the funders' report, a PDF of one to three pages in the reader's language, and
the same figures as sheets of ``/export``'s workbook.

The words and figures are put together here in the event loop (gettext needs the reader's
locale); the PDF is laid out by fpdf2 in a worker thread, with DejaVu Sans, which the package
carries (``bot/views/fonts``, with its licence) so Cyrillic and Polish letters print anywhere.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from aiogram.utils.i18n import gettext as _

from bot.domain.export import ConsultationRecord, ExportData
from bot.domain.register import Reached
from bot.domain.stats import Stats
from bot.time.zones import zone, zone_label
from bot.views.export import ExportText
from bot.views.sheets import Figures, Table, Value
from bot.views.stats import (
    STATUS_ORDER,
    consultation_state_title,
    decimal,
    duration_text,
    period_text,
    short,
    topic_name,
)
from bot.views.tickets import status_title

if TYPE_CHECKING:
    from fpdf import FPDF

FONTS = Path(__file__).parent / "fonts"
# The appendix lists at most this many consultations, so the report stays within three pages;
# the workbook of /export lists them all.
APPENDIX_LIMIT = 45
TOWNS_SHOWN = 15

Rows = list[tuple[list[Value], bool]]  # a row of cells, and bold (a heading) or not


@dataclass(frozen=True)
class ReportText:
    """The report, worded in the reader's language; laid out as a PDF or as sheets."""

    title: str
    subtitle: list[str]
    figures: Rows
    chart_title: str
    appendix_title: str
    appendix: Table
    appendix_note: str
    footer: str


def _minutes(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 60, 1)


def report_rows(stats: Stats, reached: Reached, language: str, *, pdf: bool) -> Rows:
    """The report's figures: people reached by town and organisation, requests by topic and
    status, consultations, advice, meetings, times and ratings. ``pdf``: times as people say
    them, otherwise in minutes for a spreadsheet."""
    not_given = _("not given")
    rows: Rows = [
        ([_("People reached"), reached.total], True),
        ([_("Filed a request or came to a meeting in the period.")], False),
        ([], False),
        ([_("Town"), _("People")], True),
    ]
    rows += [([town or not_given, count], False) for town, count in reached.by_town[:TOWNS_SHOWN]]
    rows += [([], False), ([_("Organisation"), _("People")], True)]
    rows += [
        ([organisation or not_given, count], False)
        for organisation, count in reached.by_organisation[:TOWNS_SHOWN]
    ]
    rows += [([], False), ([_("Requests by topic"), stats.total], True)]
    rows += [([topic_name(tc.topic, language), tc.count], False) for tc in stats.by_topic]
    rows += [([], False), ([_("Requests by status")], True)]
    rows += [
        ([status_title(s), stats.by_status[s]], False)
        for s in STATUS_ORDER
        if stats.by_status.get(s)
    ]
    total = stats.consultations.total
    rows += [
        ([], False),
        ([_("Consultations booked"), total.booked], True),
        ([_("Held"), total.held], False),
        ([_("No-show"), total.no_show], False),
        ([_("Cancelled"), total.cancelled], False),
        ([_("Planned"), total.planned], False),
    ]
    triage = stats.triage
    if triage.triaged:
        rows += [
            ([], False),
            ([_("General and specialist advice"), triage.triaged], True),
            ([_("Answered by a general consultant"), triage.general], False),
            ([_("Passed to a specialist"), triage.escalated], False),
            ([_("Answered by specialists"), triage.specialist], False),
        ]
    rows += [
        ([], False),
        ([_("Meetings held"), stats.meetings.held], True),
        ([_("Answered “I will come”"), stats.meetings.coming], False),
        ([_("Meetings planned"), stats.meetings.planned], False),
        ([], False),
    ]
    answer, resolution = stats.to_first_answer.median, stats.to_resolution.median
    if pdf:
        rows += [
            ([_("Median time"), ""], True),
            ([_("Until the first answer"), duration_text(answer)], False),
            ([_("Until resolved"), duration_text(resolution)], False),
        ]
    else:
        rows += [
            ([_("Median time, minutes")], True),
            ([_("Until the first answer"), _minutes(answer)], False),
            ([_("Until resolved"), _minutes(resolution)], False),
        ]
    ratings = stats.ratings
    mean = None if ratings.mean is None else round(ratings.mean, 2)
    rows += [
        ([], False),
        ([_("Ratings given"), ratings.count], True),
        (
            [
                _("Mean rating"),
                (decimal(mean, language) if mean is not None else "—") if pdf else mean,
            ],
            False,
        ),
    ]
    return rows


def appendix_table(
    consultations: list[ConsultationRecord], zone_name: str, language: str, *, title: str = ""
) -> Table:
    """Each consultation: date, topic, mentor and the activist's town (no activist's name)."""
    local = zone(zone_name)
    return Table(
        title or _("Consultations"),
        [_("Date"), _("Topic"), _("Mentor"), _("Town"), _("Status")],
        [
            [
                r.starts_at.astimezone(local).strftime("%d.%m.%Y %H:%M"),
                topic_name(r.topic, language),
                r.mentor.display_name,
                r.town or _("not given"),
                _state(r),
            ]
            for r in consultations
        ],
    )


def _state(record: ConsultationRecord) -> str:
    return consultation_state_title(record.state)


def report_text(
    stats: Stats,
    reached: Reached,
    consultations: list[ConsultationRecord],
    language: str,
    now: datetime,
) -> ReportText:
    zone_name = stats.period.zone
    appendix = appendix_table(consultations, zone_name, language)
    hidden = len(appendix.rows) - APPENDIX_LIMIT
    return ReportText(
        title=_("Report: the people served"),
        subtitle=[
            ", ".join(f"«{p.title}»" for p in stats.programmes),
            _("Period: {period}").format(period=period_text(stats.period)),
            _("Times in {zone}.").format(zone=zone_label(zone_name, language)),
        ],
        figures=report_rows(stats, reached, language, pdf=True),
        chart_title=_("Requests per week, by topic"),
        appendix_title=_("Appendix: consultations"),
        appendix=appendix,
        appendix_note=(
            _("…and {count} more: see /export").format(count=hidden) if hidden > 0 else ""
        ),
        footer=_("MentorDesk · made {day}").format(
            day=now.astimezone(zone(zone_name)).strftime("%d.%m.%Y %H:%M")
        ),
    )


def with_report(
    text: ExportText, stats: Stats, reached: Reached, data: ExportData, language: str
) -> ExportText:
    """``/export``'s words with the report's two sheets: its figures (people reached by town
    and organisation first) and each consultation with the activist's town."""
    sheets: list[Table | Figures] = [
        Figures(_("People reached"), report_rows(stats, reached, language, pdf=False)),
        appendix_table(data.consultations, data.period.zone, language, title=_("Appendix")),
    ]
    return replace(text, report_sheets=sheets)


def report_caption(stats: Stats, reached: Reached) -> str:
    return _("Report · {period}: {people} people reached, {requests} requests").format(
        period=period_text(stats.period), people=reached.total, requests=stats.total
    )


# --- the PDF -----------------------------------------------------------------------------------


def _cell_text(value: Value) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.strftime("%d.%m.%Y %H:%M")
    return str(value)


def build_pdf(text: ReportText, chart: bytes | None) -> bytes:
    """Lay the report out on A4 pages."""
    from fpdf import FPDF  # noqa: PLC0415 - loaded with the first report

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_font("DejaVu", "", str(FONTS / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(FONTS / "DejaVuSans-Bold.ttf"))
    pdf.set_title(text.title)
    pdf.set_creator("MentorDesk")
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 15)
    pdf.multi_cell(0, 8, text.title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 9)
    for line in text.subtitle:
        pdf.multi_cell(0, 5, short(line, 300), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    _figures(pdf, text.figures)
    if chart:
        pdf.add_page()
        pdf.set_font("DejaVu", "B", 11)
        pdf.cell(0, 7, text.chart_title, new_x="LMARGIN", new_y="NEXT")
        pdf.image(io.BytesIO(chart), w=pdf.epw)
        pdf.ln(4)
    if text.appendix.rows:
        if not chart:
            pdf.add_page()
        pdf.set_font("DejaVu", "B", 11)
        pdf.cell(0, 7, text.appendix_title, new_x="LMARGIN", new_y="NEXT")
        _appendix(pdf, text.appendix)
        if text.appendix_note:
            pdf.set_font("DejaVu", "", 8)
            pdf.cell(0, 5, text.appendix_note, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 7)
    pdf.ln(2)
    pdf.cell(0, 4, text.footer, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _figures(pdf: FPDF, rows: Rows) -> None:
    # Two columns of figures side by side keep the first page to one page.
    half = (pdf.epw - 6) / 2
    label, number = half * 0.75, half * 0.25
    top, left = pdf.get_y(), pdf.l_margin
    x, y = left, top
    bottom = pdf.h - pdf.b_margin - 4
    for row, bold in rows:
        if y > bottom:
            if x == left:
                x, y = left + half + 6, top
            else:
                pdf.add_page()
                x, y = left, pdf.get_y()
                top = y
        if not row:
            y += 2
            continue
        pdf.set_font("DejaVu", "B" if bold else "", 9)
        pdf.set_xy(x, y)
        cells = [_cell_text(v) for v in row]
        if len(cells) == 1:
            pdf.cell(half, 5, short(cells[0], 70))
        else:
            pdf.cell(label, 5, short(cells[0], 46))
            pdf.cell(number, 5, short(cells[1], 14), align="R")
        y += 5
    pdf.set_xy(left, max(y, pdf.get_y()) + 4)
    pdf.set_x(left)


def _appendix(pdf: FPDF, table: Table) -> None:
    widths = [0.18, 0.26, 0.24, 0.18, 0.14]
    pdf.set_font("DejaVu", "B", 8)
    for header, share in zip(table.headers, widths, strict=True):
        pdf.cell(pdf.epw * share, 5, header, border="B")
    pdf.ln()
    pdf.set_font("DejaVu", "", 8)
    for row in table.rows[:APPENDIX_LIMIT]:
        for value, share in zip(row, widths, strict=True):
            pdf.cell(pdf.epw * share, 4.5, short(_cell_text(value), int(share * 120)))
        pdf.ln()


async def make_pdf(text: ReportText, chart: bytes | None) -> bytes:
    """Build the PDF in a worker thread."""
    return await asyncio.to_thread(build_pdf, text, chart)
