"""``/export``: the workbook's five sheets, the CSV read back, and the command end to end."""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from openpyxl import load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import create_engine, create_session_factory, upgrade
from bot.domain import export, stats
from bot.domain.stats import ConsultationState, Period
from bot.i18n import create_i18n, locale
from bot.sandbox.emulator.client import TelegramClient
from bot.sandbox.emulator.models import FakeMessage
from bot.views import export as files_of_export
from bot.views.export import ExportFiles, csv_value
from bot.views.sheets import ILLEGAL_CHARACTERS
from bot.views.stats import export_text
from models import AuditAction, AuditEntry, Booking, BookingStatus, Person, Ticket
from tests.booking_steps import book_from_ticket
from tests.conftest import World
from tests.insight_steps import (
    DAY,
    EXPECTED,
    FIRST_DAY,
    HOUR,
    LAST_DAY,
    MINUTE,
    NOW,
    T0,
    ZONE,
    Cohort,
)
from tests.ticket_steps import ask, card, number_in

PERIOD = Period.days(FIRST_DAY, LAST_DAY, ZONE)
SHEETS = [
    "Requests",
    "Meetings",
    "Consultations",
    "Consultation figures",
    "Summary",
    "People reached",
    "Appendix",
]
FORMULA = '=HYPERLINK("http://example.org","Нажми")'


@pytest.fixture
async def cohort(database_url: str) -> AsyncIterator[Cohort]:
    engine = create_engine(database_url)
    await upgrade(engine)
    factory: async_sessionmaker[AsyncSession] = create_session_factory(engine)
    try:
        async with factory() as session:
            place = Cohort(session)
            await place.setup()
            await place.scenario()
            await session.commit()
            yield place
    finally:
        await engine.dispose()


async def _files(cohort: Cohort, language: str = "en") -> ExportFiles:
    figures = await stats.collect(cohort.session, [cohort.programme.id], PERIOD, NOW)
    data = await export.collect_export(cohort.session, [cohort.programme.id], PERIOD, NOW)
    with locale(create_i18n(), language):
        text = export_text(figures, language)
    return await files_of_export.make_files(data, text)


def _sheet_rows(xlsx: bytes, index: int) -> list[list[object]]:
    workbook = load_workbook(io.BytesIO(xlsx))
    return [list(row) for row in workbook.worksheets[index].iter_rows(values_only=True)]


def _csv_rows(data: bytes, delimiter: str) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf"), "UTF-8 with a BOM"
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=delimiter))


async def test_the_workbook_has_five_sheets_with_the_right_rows(cohort: Cohort) -> None:
    files = await _files(cohort)
    assert files.tickets == EXPECTED.total and files.meetings == 2 and files.consultations == 0
    assert files.xlsx_name == "mentordesk-2027-02-01-2027-02-14.xlsx"
    assert files.csv_name == "mentordesk-2027-02-01-2027-02-14.csv"
    workbook = load_workbook(io.BytesIO(files.xlsx))
    assert workbook.sheetnames == SHEETS[:5]  # /export adds the report's two

    tickets = _sheet_rows(files.xlsx, 0)
    headers, rows = tickets[0], tickets[1:]
    assert len(rows) == EXPECTED.total
    assert headers[0] == "Number" and "Filed, Moscow (UTC+3)" in headers
    by_number = {row[0]: dict(zip(headers, row, strict=True)) for row in rows}
    assert set(by_number) == {t.id for t in cohort.tickets.values()}
    first = by_number[cohort.tickets[1].id]
    assert first["Programme"] == "ШСП на Донбассе"
    assert first["Group"] == "Луганская группа"
    assert first["Topic code"] == "legal" and first["Status"] == "resolved"
    assert first["Author"] == "Ольга" and first["Mentor"] == "Ирина"
    # Local wall time, without a zone: spreadsheets know none.
    assert first["Filed, Moscow (UTC+3)"] == datetime(2027, 2, 1, 9, 0, tzinfo=UTC).replace(
        tzinfo=None
    )
    assert first["Minutes until a mentor took it"] == 10
    assert first["Minutes until the first answer"] == 30
    assert first["Minutes until resolved"] == 120
    assert first["Rating"] == 5
    # created, topic set, claimed, the answer, resolved, rated
    assert first["History entries"] == 6
    reassigned = by_number[cohort.tickets[7].id]
    assert reassigned["Minutes until a mentor took it"] == 30
    assert reassigned["Mentor"] == "Сергей" and reassigned["Status"] == "closed"
    assert by_number[cohort.tickets[5].id]["Mentor"] is None

    meetings = _sheet_rows(files.xlsx, 1)
    assert len(meetings) == 1 + 2
    meeting = dict(zip(meetings[0], meetings[1], strict=True))
    assert meeting["Status"] == "held" and meeting["Audience"] == "Луганская группа"
    assert (meeting["Coming"], meeting["Not coming"]) == (2, 1)
    assert meeting["Who is coming"] == "Ольга, Пётр" and meeting["Who is not coming"] == "Анна"
    assert dict(zip(meetings[0], meetings[2], strict=True))["Status"] == "cancelled"

    summary = {row[0]: row[1:] for row in _sheet_rows(files.xlsx, 4) if row and row[0]}
    assert summary["Requests filed"][0] == EXPECTED.total
    assert summary["People served"][0] == EXPECTED.people
    assert summary["resolved"][0] == 3 and summary["cancelled"][0] == 1
    assert summary["Legal matters"][0] == 5
    assert summary["Until a mentor took it"][:3] == [30, 52, 5]
    assert summary["Until resolved"][:3] == [330, 1116, 4]
    assert summary["Ratings given"][0] == 3 and summary["Rated 4–5, %"][0] == 66.7
    assert summary["Сергей"][:3] == [1, 2, 180]
    assert summary["Meetings held"][0] == 1


async def _book(
    cohort: Cohort,
    ticket: Ticket,
    mentor: Person,
    starts_at: datetime,
    status: BookingStatus = BookingStatus.booked,
) -> None:
    cohort.session.add(
        Booking(
            ticket_id=ticket.id, mentor_id=mentor.id, activist_id=ticket.author_id,
            starts_at=starts_at, ends_at=starts_at + HOUR, status=status,
            live=None if status == BookingStatus.cancelled else True,
            created_at=starts_at - 2 * DAY,
        )
    )  # fmt: skip
    await cohort.session.flush()


async def test_the_consultations_sheets_list_each_one_and_count_them(cohort: Cohort) -> None:
    t = cohort.tickets
    await _book(cohort, t[1], cohort.irina, T0 + 2 * DAY)  # held
    await _book(cohort, t[2], cohort.irina, T0 + 3 * DAY, BookingStatus.no_show)
    await _book(cohort, t[3], cohort.sergey, T0 + 4 * DAY, BookingStatus.cancelled)
    await _book(cohort, t[4], cohort.sergey, T0 + 9 * DAY)  # held
    await _book(cohort, t[5], cohort.irina, T0 + 30 * DAY)  # after the period
    others = await cohort.session.scalar(
        select(Ticket).where(Ticket.programme_id == cohort.other.id).limit(1)
    )
    assert others is not None
    await _book(cohort, others, cohort.omsk_mentor, T0 + 2 * DAY)  # another programme's
    await cohort.session.commit()

    files = await _files(cohort)
    assert files.consultations == 4
    rows = _sheet_rows(files.xlsx, 2)
    by_request = {row[1]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}
    assert list(by_request) == [t[1].id, t[2].id, t[3].id, t[4].id]  # in order of time
    first = by_request[t[1].id]
    assert first["Programme"] == "ШСП на Донбассе" and first["Topic"] == "Legal matters"
    assert first["Mentor"] == "Ирина" and first["Activist"] == "Ольга"
    # 3 February, 09:00 in Moscow: local wall time, and UTC beside it.
    assert first["Starts, Moscow (UTC+3)"] == datetime(2027, 2, 3, 9, tzinfo=UTC).replace(
        tzinfo=None
    )
    assert first["Starts (UTC)"] == datetime(2027, 2, 3, 6, tzinfo=UTC).replace(tzinfo=None)
    assert first["Duration, minutes"] == 60 and first["Status"] == "held"
    assert [by_request[t[n].id]["Status"] for n in (2, 3, 4)] == ["no-show", "called off", "held"]
    assert by_request[t[3].id]["Mentor"] == "Сергей"

    figures = {row[0]: row[1:6] for row in _sheet_rows(files.xlsx, 3) if row and row[0]}
    assert figures["Consultations"] == ["Booked", "Held", "Planned", "Cancelled", "No-show"]
    assert figures["All"] == [4, 2, 0, 1, 1]
    assert figures["Ирина"] == [2, 1, 0, 0, 1] and figures["Сергей"] == [2, 1, 0, 1, 0]
    assert figures["Legal matters"] == [2, 1, 0, 0, 1]
    grants = cohort.topics["grants"].title("en")
    assert figures[grants] == [2, 1, 0, 1, 0]

    # One that has not ended yet is upcoming.
    early = await export.collect_export(
        cohort.session, [cohort.programme.id], PERIOD, T0 + 2 * DAY + 30 * MINUTE
    )
    states = {r.ticket_id: r.state for r in early.consultations}
    assert states[t[1].id] == ConsultationState.upcoming
    assert states[t[4].id] == ConsultationState.upcoming


async def test_the_csv_reads_back_to_the_same_rows_as_the_sheet(cohort: Cohort) -> None:
    files = await _files(cohort, "ru")
    rows = _csv_rows(files.csv, ";")
    sheet = _sheet_rows(files.xlsx, 0)
    assert len(rows) == len(sheet) == 1 + EXPECTED.total
    assert rows == [[csv_value(value) for value in row] for row in sheet]  # type: ignore[arg-type]
    english = await _files(cohort, "en")
    assert _csv_rows(english.csv, ",")[1] == [
        csv_value(value)  # type: ignore[arg-type]
        for value in _sheet_rows(english.xlsx, 0)[1]
    ]
    # Cyrillic survives the round trip.
    assert "Ольга" in {cell for row in rows for cell in row}


async def test_text_that_looks_like_a_formula_stays_text(cohort: Cohort) -> None:
    formula = await cohort.ask(cohort.olga, "legal", T0 + HOUR, text=FORMULA)
    control = await cohort.ask(
        cohort.olga, "legal", T0 + 2 * HOUR, text="Звонок\x07 в дверь\nи вторая строка"
    )
    await cohort.session.commit()
    files = await _files(cohort)
    workbook = load_workbook(io.BytesIO(files.xlsx))
    sheet = workbook.worksheets[0]
    headers = [cell.value for cell in sheet[1]]
    column = headers.index("Request")
    cells = {row[0].value: row[column] for row in sheet.iter_rows(min_row=2)}
    assert cells[formula.id].value == FORMULA and cells[formula.id].data_type == "s"
    # A control character a workbook cannot hold is dropped; the line break stays.
    assert cells[control.id].value == "Звонок в дверь\nи вторая строка"
    rows = {row[0]: row for row in _csv_rows(files.csv, ",")[1:]}
    assert rows[str(formula.id)][column] == "'" + FORMULA
    assert rows[str(control.id)][column] == "Звонок в дверь\nи вторая строка"


async def test_another_programmes_requests_are_never_exported(cohort: Cohort) -> None:
    data = await export.collect_export(cohort.session, [cohort.other.id], PERIOD, NOW)
    assert {r.programme for r in data.tickets} == {"Школа НКО Омска"}
    assert len(data.tickets) == 2 and len(data.meetings) == 1
    mine = await export.collect_export(cohort.session, [cohort.programme.id], PERIOD, NOW)
    assert "Школа НКО Омска" not in {r.programme for r in mine.tickets}


async def test_the_files_are_built_in_a_worker_thread(
    cohort: Cohort, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[threading.Thread] = []
    build = files_of_export.build_files

    def spy(data: export.ExportData, text: files_of_export.ExportText) -> ExportFiles:
        threads.append(threading.current_thread())
        return build(data, text)

    monkeypatch.setattr(files_of_export, "build_files", spy)
    await _files(cohort)
    assert threads and threads[0] is not threading.main_thread()


# --- end to end -------------------------------------------------------------------------------


def _document(messages: list[FakeMessage], suffix: str) -> FakeMessage:
    found = [m for m in messages if m.document and m.document["file_name"].endswith(suffix)]
    assert found, messages
    return found[-1]


async def test_a_coordinator_exports_the_programmes_requests(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    olga = tg.user("Olga", language="en")
    group = await world.registered_group(members=(olga,))
    coordinator = await world.coordinator("Natalia", language="en")
    irina = await world.mentor("Irina", "legal", language="en")
    first = await ask(tg, olga, group, "How do I register an NGO?")
    await ask(tg, olga, group, "Which contract do we sign with the landlord?")
    await tg.press(irina, card(tg, irina, first), "Claim")

    await tg.send(coordinator, coordinator, "/export week")
    sent = tg.messages(coordinator)
    xlsx, table = _document(sent, ".xlsx"), _document(sent, ".csv")
    assert xlsx.file_bytes is not None and table.file_bytes is not None
    assert "2 requests, 0 meetings" in xlsx.content
    workbook = load_workbook(io.BytesIO(xlsx.file_bytes))
    assert workbook.sheetnames == SHEETS
    assert workbook["Requests"].max_row == 3 and workbook["Meetings"].max_row == 1
    rows = _csv_rows(table.file_bytes, ",")
    assert len(rows) == 3 and {rows[1][0], rows[2][0]} == {str(first), str(first + 1)}
    assert {rows[1][7], rows[2][7]} == {
        "How do I register an NGO?",
        "Which contract do we sign with the landlord?",
    }
    async with db() as session:
        entries = list((await session.execute(select(AuditEntry))).scalars())
    exported = [e for e in entries if e.action == AuditAction.exported]
    assert len(exported) == 1 and exported[0].details["tickets"] == 2


async def test_nothing_to_export_is_said_plainly(world: World, tg: TelegramClient) -> None:
    await world.registered_group()
    coordinator = await world.coordinator("Natalia", language="en")
    await tg.send(coordinator, coordinator, "/export 01.01.2026-31.01.2026")
    assert "Nothing to export" in tg.last(coordinator).content
    assert not any(m.document for m in tg.messages(coordinator))


async def test_only_coordinators_export(world: World, tg: TelegramClient) -> None:
    olga = tg.user("Olga", language="en")
    group = await world.registered_group(members=(olga,))
    irina = await world.mentor("Irina", "legal", language="en")
    await ask(tg, olga, group, "How do I register an NGO?")
    for person in (olga, irina):
        await tg.send(person, person, "/export")
        assert "for programme coordinators" in tg.last(person).content
        assert not any(m.document for m in tg.messages(person))
    await tg.send(olga, group, "/export")
    assert "in private only" in tg.last(group).content
    assert not any(m.document for m in tg.messages(group))


def test_the_period_names_the_files() -> None:
    everything = Period.rolling(stats.PeriodKind.all, datetime(2027, 2, 20, tzinfo=UTC), ZONE)
    assert files_of_export.file_stem(everything) == "mentordesk-all-2027-02-20"
    assert files_of_export.file_stem(PERIOD) == "mentordesk-2027-02-01-2027-02-14"


def test_the_csv_drops_the_same_characters_the_workbook_cannot_hold() -> None:
    # The export keeps its own copy of openpyxl's pattern so the bot starts without openpyxl.
    assert ILLEGAL_CHARACTERS.pattern == ILLEGAL_CHARACTERS_RE.pattern
    assert csv_value("a\x01b\x0bc\td\ne") == "abc\td\ne"


async def test_a_coordinator_exports_the_weeks_consultations(
    world: World, tg: TelegramClient
) -> None:
    """Booked, held, cancelled and no-show consultations of two mentors and two topics, made
    through the bot; the coordinator's export a few days later lists and counts them."""
    world.clock.set(datetime(2027, 3, 1, 6, tzinfo=UTC))  # Monday, 09:00 in Moscow
    olga, petr = tg.user("Ольга", started=True), tg.user("Пётр", started=True)
    group = await world.registered_group(members=(olga, petr))
    coordinator = await world.coordinator("Наталья")
    irina = await world.mentor("Ирина", "legal")
    sergey = await world.mentor("Сергей", "grants")
    for mentor in (irina, sergey):
        await tg.send(mentor, mentor, "/hours Пн-Вс 10:00-12:00 1h")
    legal = await ask(tg, olga, group, "Как зарегистрировать НКО? #юрист")
    grant = await ask(tg, petr, group, "Как подать заявку на грант? #гранты")
    lease = await ask(tg, petr, group, "Какой договор аренды подписать? #юрист")
    held = await book_from_ticket(tg, olga, legal, day=1, time="10:00")  # Tuesday
    missed = await book_from_ticket(tg, petr, grant, day=1, time="11:00")
    called_off = await book_from_ticket(tg, petr, lease, day=2, time="10:00")  # Wednesday
    assert all("✅ Записано" in m.text for m in (held, missed, called_off))
    meeting = {n: number_in(m.text.split("Встреча")[-1]) for n, m in (
        (grant, missed), (lease, called_off))}  # fmt: skip
    await tg.send(petr, petr, f"/cancel_meeting {meeting[lease]}")

    world.clock.set(datetime(2027, 3, 3, 9, tzinfo=UTC))  # Wednesday, 12:00 in Moscow
    await tg.send(sergey, sergey, f"/noshow {meeting[grant]}")
    assert "никто не пришёл" in tg.last(sergey).text
    await tg.send(coordinator, coordinator, "/export week")
    xlsx = _document(tg.messages(coordinator), ".xlsx")
    assert xlsx.file_bytes is not None
    workbook = load_workbook(io.BytesIO(xlsx.file_bytes))
    assert workbook.sheetnames[2:4] == ["Консультации", "Итоги консультаций"]
    rows = _sheet_rows(xlsx.file_bytes, 2)
    by_request = {row[1]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}
    assert {n: r["Статус"] for n, r in by_request.items()} == {
        legal: "прошла",
        grant: "неявка",
        lease: "отменена",
    }
    assert by_request[grant]["Наставник"] == "Сергей" and by_request[grant]["Активист"] == "Пётр"
    assert by_request[legal]["Начало, МСК"] == datetime(2027, 3, 2, 10, tzinfo=UTC).replace(
        tzinfo=None
    )
    assert by_request[legal]["Начало (UTC)"] == datetime(2027, 3, 2, 7, tzinfo=UTC).replace(
        tzinfo=None
    )
    figures = {row[0]: row[1:6] for row in _sheet_rows(xlsx.file_bytes, 3) if row and row[0]}
    assert figures["Всего"] == [3, 1, 0, 1, 1]
    assert figures["Ирина"] == [2, 1, 0, 1, 0] and figures["Сергей"] == [1, 0, 0, 0, 1]


async def test_stats_and_export_show_what_is_planned_beside_what_happened(
    world: World, tg: TelegramClient
) -> None:
    """Two conferences and a booked consultation, all ahead: /stats counts them as planned,
    and the workbook lists them, with the planned ones counted in its figures."""
    world.clock.set(datetime(2027, 3, 1, 6, tzinfo=UTC))  # Monday, 09:00 in Moscow
    olga = tg.user("Ольга", started=True)
    group = await world.registered_group(members=(olga,))
    coordinator = await world.coordinator("Наталья")
    irina = await world.mentor("Ирина", "legal")
    await tg.send(irina, irina, "/hours Пн-Вс 10:00-12:00 1h")
    legal = await ask(tg, olga, group, "Как зарегистрировать НКО? #юрист")
    assert "✅ Записано" in (await book_from_ticket(tg, olga, legal, day=2, time="10:00")).text
    group.members[coordinator.id] = "member"
    await tg.send(coordinator, group, "/schedule 05.03.2027 15:00 MSK Видеоконференция")
    await tg.send(coordinator, group, "/schedule 12.03.2027 15:00 MSK Вторая видеоконференция")

    await tg.send(coordinator, coordinator, "/stats")
    figures = next(m.text for m in reversed(tg.inbox(coordinator)) if "Встречи" in m.text)
    assert "Встречи: прошло 0 · впереди 3" in figures
    assert "• всего — 1 / 0 / 1 / 0 / 0" in figures
    assert "• Ирина — 1 / 0 / 1 / 0 / 0" in figures

    await tg.send(coordinator, coordinator, "/export week")
    xlsx = _document(tg.messages(coordinator), ".xlsx")
    assert xlsx.file_bytes is not None and "встреч — 3" in xlsx.content
    meetings = _sheet_rows(xlsx.file_bytes, 1)
    by_title = {row[2]: dict(zip(meetings[0], row, strict=True)) for row in meetings[1:]}
    consultation_title = next(t for t in by_title if str(t).startswith("Консультация"))
    assert str(consultation_title).endswith(f"#{legal}")
    assert set(by_title) == {consultation_title, "Видеоконференция", "Вторая видеоконференция"}
    assert {row["Статус"] for row in by_title.values()} == {"назначена"}
    [consultation] = _sheet_rows(xlsx.file_bytes, 2)[1:]
    assert consultation[1] == legal and "предстоит" in consultation
    totals = {row[0]: row[1:6] for row in _sheet_rows(xlsx.file_bytes, 3) if row and row[0]}
    assert totals["Всего"] == [1, 0, 1, 0, 0]
    summary = {row[0]: row[1] for row in _sheet_rows(xlsx.file_bytes, 4) if row and row[0]}
    assert summary["Прошло встреч"] == 0 and summary["Встреч впереди"] == 3
