"""The files of ``/export``: the requests of a period as an XLSX workbook and the same requests
as CSV, in the reader's language.

The workbook has five sheets: every field of every request with the size of its history, the
meetings with their RSVPs, the booked consultations with how each went, the consultation
figures by mentor and by topic, and a summary of the other ``/stats`` figures. The files are
built in a worker thread (openpyxl's write-only mode keeps 10,000 rows cheap). The workbook
itself is written in ``bot.views.workbook``, loaded with the first export: openpyxl, and numpy
which it brings, are about 20 MB a bot that exports nothing need not carry. The words
(headers, statuses, sheet names) come from the caller in the reader's language.

Text typed by people is always written as text: the workbook marks such cells as strings, so
``=HYPERLINK(...)`` in a request is never a formula, and in the CSV a value that a spreadsheet
would take for a formula gets a leading apostrophe (the usual CSV-injection guard). Control
characters a workbook cannot hold are dropped from both files alike.
"""

from __future__ import annotations

import asyncio
import csv
import io
from dataclasses import dataclass, field
from datetime import datetime

from bot.domain.export import ExportData, TicketRecord
from bot.domain.stats import ConsultationState, Period
from bot.time.zones import zone, zone_label
from bot.views.sheets import Figures, Table, Value, printable
from models import MeetingStatus, TicketStatus, Topic

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_DATE_FORMAT = "%Y-%m-%d %H:%M"


@dataclass(frozen=True)
class ExportText:
    """Everything worded for the reader: built by the caller in the reader's language."""

    tickets_sheet: str
    meetings_sheet: str
    consultations_sheet: str
    consultation_figures_sheet: str
    summary_sheet: str
    ticket_headers: list[str]
    meeting_headers: list[str]
    consultation_headers: list[str]
    consultation_figures: list[tuple[list[Value], bool]]  # rows, and bold or not
    summary: list[tuple[list[Value], bool]]  # rows of the summary sheet, and bold or not
    statuses: dict[TicketStatus, str]
    meeting_statuses: dict[MeetingStatus, str]
    consultation_states: dict[ConsultationState, str]
    language: str  # for topic titles
    no_topic: str
    yes: str
    no: str
    csv_delimiter: str = ","
    # The funders' report (bot.views.report): its figures, and each consultation by town.
    report_sheets: list[Table | Figures] = field(default_factory=list)

    def topic(self, topic: Topic | None) -> str:
        return topic.title(self.language) if topic is not None else self.no_topic


@dataclass(frozen=True)
class ExportFiles:
    xlsx: bytes
    csv: bytes
    xlsx_name: str
    csv_name: str
    tickets: int
    meetings: int
    consultations: int


# --- tables ----------------------------------------------------------------------------------


def _minutes(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds / 60)


def _local(moment: datetime | None, zone_name: str) -> datetime | None:
    """Local wall time without a zone: spreadsheets know no zones; the header names it."""
    if moment is None:
        return None
    return moment.astimezone(zone(zone_name)).replace(tzinfo=None, microsecond=0)


def ticket_rows(data: ExportData, text: ExportText) -> list[list[Value]]:
    """The tickets sheet's rows (and the CSV's), in the order of ``text.ticket_headers``."""
    return [_ticket_row(r, text, data.period.zone) for r in data.tickets]


def _ticket_row(r: TicketRecord, text: ExportText, zone_name: str) -> list[Value]:
    return [
        r.id,
        r.programme,
        r.group,
        text.topic(r.topic),
        r.topic.code if r.topic is not None else None,
        text.yes if r.topic_confirmed else text.no,
        text.statuses[r.status],
        r.text,
        r.author.display_name,
        r.author.username,
        r.author.telegram_id,
        r.mentor.display_name if r.mentor is not None else None,
        r.mentor.username if r.mentor is not None else None,
        _local(r.created_at, zone_name),
        _local(r.first_mentor_at, zone_name),
        _local(r.claimed_at, zone_name),
        _local(r.first_answer_at, zone_name),
        _local(r.resolved_at, zone_name),
        _local(r.closed_at, zone_name),
        _minutes(r.to_claim),
        _minutes(r.to_first_answer),
        _minutes(r.to_resolution),
        r.rating,
        r.rating_comment,
        _local(r.rated_at, zone_name),
        r.attachments,
        r.events,
        r.chat_telegram_id,
        r.request_message_id,
        _local(r.claim_alerted_at, zone_name),
        _local(r.answer_reminded_at, zone_name),
        text.yes if r.triage else text.no,
        _local(r.escalated_at, zone_name),
    ]


def meeting_rows(data: ExportData, text: ExportText) -> list[list[Value]]:
    zone_name = data.period.zone
    return [
        [
            r.meeting.id,
            r.programme,
            r.meeting.title,
            _local(r.meeting.starts_at, zone_name),
            r.meeting.duration_minutes,
            text.meeting_statuses[r.meeting.status],
            zone_label(r.meeting.zone, text.language, r.meeting.starts_at),
            r.meeting.video_url,
            ", ".join(r.audience),
            r.meeting.ticket_id,
            r.host.display_name if r.host is not None else None,
            len(r.coming),
            len(r.not_coming),
            ", ".join(p.display_name for p in r.coming),
            ", ".join(p.display_name for p in r.not_coming),
        ]
        for r in data.meetings
    ]


def consultation_rows(data: ExportData, text: ExportText) -> list[list[Value]]:
    zone_name = data.period.zone
    return [
        [
            r.meeting_id,
            r.ticket_id,
            r.programme,
            text.topic(r.topic),
            r.mentor.display_name,
            r.activist.display_name,
            r.activist.username,
            _local(r.starts_at, zone_name),
            _local(r.starts_at, "UTC"),
            round((r.ends_at - r.starts_at).total_seconds() / 60),
            text.consultation_states[r.state],
            _local(r.booked_at, zone_name),
        ]
        for r in data.consultations
    ]


# --- files -----------------------------------------------------------------------------------


def csv_value(value: Value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime(CSV_DATE_FORMAT)
    if isinstance(value, str):
        value = printable(value)
        return "'" + value if value.startswith(FORMULA_STARTS) else value
    return str(value)


def build_csv(tickets: Table, delimiter: str) -> bytes:
    """The tickets sheet as CSV in UTF-8 with a BOM, so spreadsheets read Cyrillic right."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(tickets.headers)
    writer.writerows([csv_value(v) for v in row] for row in tickets.rows)
    return buffer.getvalue().encode("utf-8-sig")


def file_stem(period: Period) -> str:
    first = "all" if period.first_day is None else f"{period.first_day:%Y-%m-%d}"
    return f"mentordesk-{first}-{period.last_day:%Y-%m-%d}"


def build_files(data: ExportData, text: ExportText) -> ExportFiles:
    from bot.views.workbook import build_xlsx  # noqa: PLC0415 - openpyxl with the first export

    stem = file_stem(data.period)
    tickets = Table(text.tickets_sheet, text.ticket_headers, ticket_rows(data, text))
    sheets: list[Table | Figures] = [
        tickets,
        Table(text.meetings_sheet, text.meeting_headers, meeting_rows(data, text)),
        Table(text.consultations_sheet, text.consultation_headers, consultation_rows(data, text)),
        Figures(text.consultation_figures_sheet, text.consultation_figures),
        Figures(text.summary_sheet, text.summary),
        *text.report_sheets,
    ]
    return ExportFiles(
        xlsx=build_xlsx(sheets),
        csv=build_csv(tickets, text.csv_delimiter),
        xlsx_name=f"{stem}.xlsx",
        csv_name=f"{stem}.csv",
        tickets=len(data.tickets),
        meetings=len(data.meetings),
        consultations=len(data.consultations),
    )


async def make_files(data: ExportData, text: ExportText) -> ExportFiles:
    """Build both files in a worker thread."""
    return await asyncio.to_thread(build_files, data, text)
