"""``/export``: the requests of a period as an XLSX workbook and the same requests as CSV.

The workbook has five sheets: every field of every request with the size of its history, the
meetings with their RSVPs, the booked consultations with how each went, the consultation
figures by mentor and by topic, and a summary of the other ``/stats`` figures. Data is read in
SQL; the files are built in a worker thread (openpyxl's write-only mode keeps 10,000 rows cheap).
The workbook itself is written in ``bot.domain.workbook``, loaded with the first export:
openpyxl, and numpy which it brings, are about 20 MB a bot that exports nothing need not carry.
The words (headers, statuses, sheet names) come from the caller in the reader's language.

Text typed by people is always written as text: the workbook marks such cells as strings, so
``=HYPERLINK(...)`` in a request is never a formula, and in the CSV a value that a spreadsheet
would take for a formula gets a leading apostrophe (the usual CSV-injection guard). Control
characters a workbook cannot hold are dropped from both files alike.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Result, RowMapping, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.domain import audit
from bot.domain.stats import (
    ConsultationState,
    Period,
    consultation_state,
    first_claim_at,
    first_claims,
    in_period,
    per_ticket,
    seconds_between,
)
from bot.domain.topics import topics_by_id
from bot.time.zones import zone
from models import (
    AuditAction,
    Booking,
    GroupChat,
    Meeting,
    MeetingStatus,
    Person,
    Programme,
    Rsvp,
    Ticket,
    TicketAttachment,
    TicketEvent,
    TicketStatus,
    Topic,
)

Value = str | int | float | datetime | None
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
DATE_FORMAT = "DD.MM.YYYY HH:MM"
CSV_DATE_FORMAT = "%Y-%m-%d %H:%M"
MAX_COLUMN_WIDTH = 60
# The characters openpyxl refuses in a cell (its ILLEGAL_CHARACTERS_RE), dropped from the CSV too.
ILLEGAL_CHARACTERS = re.compile(r"[\000-\010]|[\013-\014]|[\016-\037]")


@dataclass(frozen=True)
class PersonName:
    """A person as the export names them, read as plain columns (no ORM objects per row)."""

    first_name: str
    last_name: str | None
    username: str | None
    telegram_id: int

    @property
    def display_name(self) -> str:
        """The same name ``Person.display_name`` gives."""
        full = " ".join(part for part in (self.first_name, self.last_name) if part)
        return full or (f"@{self.username}" if self.username else str(self.telegram_id))


@dataclass(frozen=True)
class TicketRecord:
    """One request with everything the export shows about it; times are in UTC."""

    id: int
    programme: str
    group: str | None
    topic: Topic | None
    topic_confirmed: bool
    status: TicketStatus
    text: str
    author: PersonName
    mentor: PersonName | None
    created_at: datetime
    first_mentor_at: datetime | None
    claimed_at: datetime | None
    first_answer_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    to_claim: float | None  # seconds
    to_first_answer: float | None
    to_resolution: float | None
    rating: int | None
    rating_comment: str | None
    rated_at: datetime | None
    attachments: int
    events: int
    chat_telegram_id: int
    request_message_id: int
    claim_alerted_at: datetime | None
    answer_reminded_at: datetime | None
    triage: bool = False  # went to a general consultant first
    escalated_at: datetime | None = None  # when they passed it to a specialist


@dataclass(frozen=True)
class MeetingRecord:
    meeting: Meeting
    programme: str
    audience: list[str]  # group titles, or the person a ticket call is with
    host: Person | None
    coming: list[Person]
    not_coming: list[Person]


@dataclass(frozen=True)
class ConsultationRecord:
    """A booked consultation; times are in UTC."""

    meeting_id: int | None
    ticket_id: int
    programme: str
    topic: Topic | None
    mentor: PersonName
    activist: PersonName
    starts_at: datetime
    ends_at: datetime
    state: ConsultationState
    booked_at: datetime


@dataclass(frozen=True)
class ExportData:
    period: Period
    tickets: list[TicketRecord]
    meetings: list[MeetingRecord]
    consultations: list[ConsultationRecord] = field(default_factory=list)


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


# --- reading ---------------------------------------------------------------------------------


def _seconds(value: object) -> float | None:
    return None if value is None else float(round(float(str(value))))


async def collect_export(
    session: AsyncSession, programme_ids: Sequence[int], period: Period, now: datetime
) -> ExportData:
    """The period's requests in one query of plain columns, its meetings, and its booked
    consultations (held or not as of ``now``)."""
    author, mentor = aliased(Person), aliased(Person)
    conditions = in_period(programme_ids, period)
    events = per_ticket(TicketEvent, func.count(TicketEvent.id), conditions)
    attachments = per_ticket(TicketAttachment, func.count(TicketAttachment.id), conditions)
    first = first_claims(conditions)
    claim = first_claim_at(first)
    columns = {
        "id": Ticket.id,
        "programme": Programme.title,
        "group": GroupChat.title,
        "topic_id": Ticket.topic_id,
        "topic_confirmed": Ticket.topic_confirmed,
        "status": Ticket.status,
        "text": Ticket.text,
        "author_first": author.first_name,
        "author_last": author.last_name,
        "author_username": author.username,
        "author_telegram_id": author.telegram_id,
        "mentor_first": mentor.first_name,
        "mentor_last": mentor.last_name,
        "mentor_username": mentor.username,
        "mentor_telegram_id": mentor.telegram_id,
        "created_at": Ticket.created_at,
        "first_mentor_at": claim,
        "claimed_at": Ticket.claimed_at,
        "first_answer_at": Ticket.first_answer_at,
        "resolved_at": Ticket.resolved_at,
        "closed_at": Ticket.closed_at,
        "to_claim": seconds_between(Ticket.created_at, claim),
        "to_first_answer": seconds_between(Ticket.created_at, Ticket.first_answer_at),
        "to_resolution": seconds_between(Ticket.created_at, Ticket.resolved_at),
        "rating": Ticket.rating,
        "rating_comment": Ticket.rating_comment,
        "rated_at": Ticket.rated_at,
        "attachments": func.coalesce(attachments.c.value, 0),
        "events": func.coalesce(events.c.value, 0),
        "chat_telegram_id": Ticket.chat_telegram_id,
        "request_message_id": Ticket.request_message_id,
        "claim_alerted_at": Ticket.claim_alerted_at,
        "answer_reminded_at": Ticket.answer_reminded_at,
        "triage": Ticket.triage,
        "escalated_at": Ticket.escalated_at,
    }
    result: Result[Any] = await session.execute(
        select(*(column.label(name) for name, column in columns.items()))
        .join(Programme, Programme.id == Ticket.programme_id)
        .join(author, author.id == Ticket.author_id)
        .outerjoin(mentor, mentor.id == Ticket.assignee_id)
        .outerjoin(GroupChat, GroupChat.id == Ticket.group_id)
        .outerjoin(first, first.c.ticket_id == Ticket.id)
        .outerjoin(events, events.c.ticket_id == Ticket.id)
        .outerjoin(attachments, attachments.c.ticket_id == Ticket.id)
        .where(*conditions)
        .order_by(Ticket.id)
    )
    topics = await topics_by_id(session, programme_ids)
    tickets = [_ticket_record(row, topics) for row in result.mappings()]
    return ExportData(
        period,
        tickets,
        await _meetings(session, programme_ids, period),
        await _consultations(session, programme_ids, period, now, topics),
    )


def _name(row: RowMapping, prefix: str) -> PersonName:
    return PersonName(
        row[f"{prefix}_first"],
        row[f"{prefix}_last"],
        row[f"{prefix}_username"],
        row[f"{prefix}_telegram_id"],
    )


async def _consultations(
    session: AsyncSession,
    programme_ids: Sequence[int],
    period: Period,
    now: datetime,
    topics: dict[int, Topic],
) -> list[ConsultationRecord]:
    """Consultations booked for moments of the period (as ``/stats`` counts them)."""
    mentor, activist = aliased(Person), aliased(Person)
    columns = {
        "meeting_id": Booking.meeting_id,
        "ticket_id": Booking.ticket_id,
        "programme": Programme.title,
        "topic_id": Ticket.topic_id,
        "starts_at": Booking.starts_at,
        "ends_at": Booking.ends_at,
        "status": Booking.status,
        "created_at": Booking.created_at,
    }
    for prefix, person in (("mentor", mentor), ("activist", activist)):
        columns |= {
            f"{prefix}_first": person.first_name,
            f"{prefix}_last": person.last_name,
            f"{prefix}_username": person.username,
            f"{prefix}_telegram_id": person.telegram_id,
        }
    query = (
        select(*(column.label(name) for name, column in columns.items()))
        .join(Ticket, Ticket.id == Booking.ticket_id)
        .join(Programme, Programme.id == Ticket.programme_id)
        .join(mentor, mentor.id == Booking.mentor_id)
        .join(activist, activist.id == Booking.activist_id)
        .where(Ticket.programme_id.in_(programme_ids), Booking.starts_at < period.end)
        .order_by(Booking.starts_at, Booking.id)
    )
    if period.start is not None:
        query = query.where(Booking.starts_at >= period.start)
    return [
        ConsultationRecord(
            meeting_id=row["meeting_id"],
            ticket_id=row["ticket_id"],
            programme=row["programme"],
            topic=topics.get(row["topic_id"] or 0),
            mentor=_name(row, "mentor"),
            activist=_name(row, "activist"),
            starts_at=row["starts_at"],
            ends_at=row["ends_at"],
            state=consultation_state(row["status"], row["ends_at"], now),
            booked_at=row["created_at"],
        )
        for row in (await session.execute(query)).mappings()
    ]


def _ticket_record(row: RowMapping, topics: dict[int, Topic]) -> TicketRecord:
    mentor = None
    if row["mentor_telegram_id"] is not None:
        mentor = PersonName(
            row["mentor_first"],
            row["mentor_last"],
            row["mentor_username"],
            row["mentor_telegram_id"],
        )
    return TicketRecord(
        id=row["id"],
        programme=row["programme"],
        group=row["group"],
        topic=topics.get(row["topic_id"] or 0),
        topic_confirmed=bool(row["topic_confirmed"]),
        status=TicketStatus(row["status"]),
        text=row["text"],
        author=PersonName(
            row["author_first"],
            row["author_last"],
            row["author_username"],
            row["author_telegram_id"],
        ),
        mentor=mentor,
        created_at=row["created_at"],
        first_mentor_at=row["first_mentor_at"],
        claimed_at=row["claimed_at"],
        first_answer_at=row["first_answer_at"],
        resolved_at=row["resolved_at"],
        closed_at=row["closed_at"],
        to_claim=_seconds(row["to_claim"]),
        to_first_answer=_seconds(row["to_first_answer"]),
        to_resolution=_seconds(row["to_resolution"]),
        rating=row["rating"],
        rating_comment=row["rating_comment"],
        rated_at=row["rated_at"],
        attachments=int(row["attachments"]),
        events=int(row["events"]),
        chat_telegram_id=row["chat_telegram_id"],
        request_message_id=row["request_message_id"],
        claim_alerted_at=row["claim_alerted_at"],
        answer_reminded_at=row["answer_reminded_at"],
        triage=bool(row["triage"]),
        escalated_at=row["escalated_at"],
    )


async def _meetings(
    session: AsyncSession, programme_ids: Sequence[int], period: Period
) -> list[MeetingRecord]:
    query = (
        select(Meeting, Programme.title)
        .join(Programme, Programme.id == Meeting.programme_id)
        .where(Meeting.programme_id.in_(programme_ids), Meeting.starts_at < period.end)
        .order_by(Meeting.starts_at, Meeting.id)
    )
    if period.start is not None:
        query = query.where(Meeting.starts_at >= period.start)
    rows = (await session.execute(query)).all()
    meeting_ids = [meeting.id for meeting, _title in rows]
    answers: dict[int, list[tuple[bool, Person]]] = {}
    for rsvp, person in await session.execute(
        select(Rsvp, Person)
        .join(Person, Person.id == Rsvp.person_id)
        .where(Rsvp.meeting_id.in_(meeting_ids))
        .order_by(Rsvp.answered_at, Person.id)
    ):
        answers.setdefault(rsvp.meeting_id, []).append((rsvp.coming, person))
    group_ids = {a.group_id for m, _t in rows for a in m.audience if a.group_id is not None}
    person_ids = {a.person_id for m, _t in rows for a in m.audience if a.person_id is not None}
    person_ids |= {m.created_by_id for m, _t in rows if m.created_by_id is not None}
    groups = {
        g.id: g.title
        for g in (
            await session.execute(select(GroupChat).where(GroupChat.id.in_(group_ids)))
        ).scalars()
    }
    people = {
        p.id: p
        for p in (await session.execute(select(Person).where(Person.id.in_(person_ids)))).scalars()
    }
    records = []
    for meeting, title in rows:
        audience = [
            groups.get(a.group_id, "?")
            if a.group_id is not None
            else people[a.person_id].display_name
            if a.person_id in people
            else "?"
            for a in meeting.audience
        ]
        said = answers.get(meeting.id, [])
        records.append(
            MeetingRecord(
                meeting=meeting,
                programme=title,
                audience=audience,
                host=people.get(meeting.created_by_id or 0),
                coming=[person for coming, person in said if coming],
                not_coming=[person for coming, person in said if not coming],
            )
        )
    return records


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
            r.meeting.zone,
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


def printable(text: str) -> str:
    """The text without the control characters an XLSX file cannot hold (tab and newline stay)."""
    return ILLEGAL_CHARACTERS.sub("", text)


def csv_value(value: Value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime(CSV_DATE_FORMAT)
    if isinstance(value, str):
        value = printable(value)
        return "'" + value if value.startswith(FORMULA_STARTS) else value
    return str(value)


def build_csv(data: ExportData, text: ExportText) -> bytes:
    """The tickets sheet as CSV in UTF-8 with a BOM, so spreadsheets read Cyrillic right."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=text.csv_delimiter, lineterminator="\r\n")
    writer.writerow(text.ticket_headers)
    writer.writerows([csv_value(v) for v in row] for row in ticket_rows(data, text))
    return buffer.getvalue().encode("utf-8-sig")


def file_stem(period: Period) -> str:
    first = "all" if period.first_day is None else f"{period.first_day:%Y-%m-%d}"
    return f"mentordesk-{first}-{period.last_day:%Y-%m-%d}"


def build_files(data: ExportData, text: ExportText) -> ExportFiles:
    from bot.domain.workbook import build_xlsx  # noqa: PLC0415 - openpyxl with the first export

    stem = file_stem(data.period)
    return ExportFiles(
        xlsx=build_xlsx(data, text),
        csv=build_csv(data, text),
        xlsx_name=f"{stem}.xlsx",
        csv_name=f"{stem}.csv",
        tickets=len(data.tickets),
        meetings=len(data.meetings),
        consultations=len(data.consultations),
    )


async def make_files(data: ExportData, text: ExportText) -> ExportFiles:
    """Build both files in a worker thread."""
    return await asyncio.to_thread(build_files, data, text)


def record_export(
    session: AsyncSession,
    actor_id: int,
    programme_ids: Sequence[int],
    period: Period,
    files: ExportFiles,
    now: datetime,
) -> None:
    """One audit entry per programme exported, so each programme's trail shows it."""
    for programme_id in programme_ids:
        audit.record(
            session,
            AuditAction.exported,
            now,
            actor_id=actor_id,
            programme_id=programme_id,
            details={
                "period": period.token,
                "tickets": files.tickets,
                "meetings": files.meetings,
                "consultations": files.consultations,
                "files": [files.xlsx_name, files.csv_name],
            },
        )
