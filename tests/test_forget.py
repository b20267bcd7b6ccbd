"""The right to be forgotten and of access: /forget erases a person everywhere while the figures
stay, /mydata sends what is kept; both through the emulator, the database read back raw."""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import subprocess
from pathlib import Path

import pytest
from aiogram.fsm.storage.base import StorageKey
from pypdf import PdfReader
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import App
from bot.db import truncate_wal
from bot.jobs.retention import WalAfterErasure
from bot.sandbox.emulator.client import TelegramClient
from bot.sandbox.emulator.models import FakeMessage, FakeUser
from models import (
    AuditAction,
    AuditEntry,
    Base,
    Booking,
    BookingStatus,
    Meeting,
    MeetingStatus,
    Person,
    Profile,
    Reminder,
    Ticket,
    TicketStatus,
)
from tests.booking_steps import book_from_ticket, request_with_hours
from tests.conftest import World
from tests.ticket_steps import ask, card, cards

OMSK = "Школа НКО Омска"
# What must be nowhere after the erasure: the person's names and words of their requests.
NAME, SURNAME, USERNAME = "Евдокия", "Переяславцева", "evdokia_stakhanov"
WORDS = ("гидропонную", "аквапоники", "Принесите устав")
TOWN, ORGANISATION = "Брянка", "Клуб садоводов-любителей"


def _database_file(app: App) -> Path | None:
    url = app.settings.database_url
    if not url.startswith("sqlite"):
        return None
    return Path(url.split("///", 1)[1])


async def _found_anywhere(app: App, needles: tuple[str, ...]) -> set[str]:
    """The needles found in any column of any table (each database), and on SQLite in the raw
    bytes of the file and its WAL after the truncation that follows an erasure."""
    found: set[str] = set()
    async with app.session_factory() as session:
        for table in Base.metadata.sorted_tables:
            for row in (await session.execute(select(table))).all():
                text = json.dumps([str(value) for value in row], ensure_ascii=False)
                found |= {needle for needle in needles if needle in text}
    url = make_url(app.settings.database_url)
    if url.get_backend_name() == "postgresql":
        # The whole database as pg_dump writes it (PostgreSQL's own tool, on PATH in CI).
        dump = subprocess.run(
            [
                "pg_dump", "--data-only", "-h", url.host or "127.0.0.1",
                "-p", str(url.port or 5432), "-U", url.username or "postgres",
                url.database or "postgres",
            ],
            capture_output=True, check=True, text=True,
        )  # fmt: skip
        found |= {needle for needle in needles if needle in dump.stdout}
    path = _database_file(app)
    if path is not None:
        await truncate_wal(app.engine)
        for part in (path, path.with_name(path.name + "-wal")):
            if part.exists():
                raw = part.read_bytes()
                found |= {needle for needle in needles if needle.encode() in raw}
    return found


def _csv(message: FakeMessage) -> list[list[str]]:
    assert message.file_bytes is not None
    return list(csv.reader(io.StringIO(message.file_bytes.decode("utf-8-sig")), delimiter=","))


async def _figures(tg: TelegramClient, coordinator: FakeUser) -> tuple[str, list[list[str]]]:
    await tg.send(coordinator, coordinator, "/stats week")
    stats = [m for m in tg.messages(coordinator) if "Statistics" in m.content][-1]
    await tg.send(coordinator, coordinator, "/export week")
    table = [
        m
        for m in tg.messages(coordinator)
        if m.document and m.document["file_name"].endswith(".csv")
    ][-1]
    return stats.content, _csv(table)


# The report's figures that may not change when a person is forgotten (their town and
# organisation move to «not given»: the profile is erased with them).
REPORT_FIGURES = (
    "People reached", "Requests by topic", "Consultations booked", "Held", "No-show",
    "Meetings held", "Ratings given",
)  # fmt: skip


async def _report(tg: TelegramClient, coordinator: FakeUser) -> dict[str, str]:
    await tg.send(coordinator, coordinator, "/report week")
    pdf = [
        m
        for m in tg.messages(coordinator)
        if m.document and m.document["file_name"].endswith(".pdf")
    ][-1]
    assert pdf.file_bytes is not None
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.file_bytes)).pages)
    figures = {}
    for label in REPORT_FIGURES:
        found = re.search(re.escape(label) + r"\s+(\d+)", text)
        assert found, (label, text[:400])
        figures[label] = found.group(1)
    return figures


async def _forget_myself(tg: TelegramClient, person: FakeUser) -> None:
    await tg.send(person, person, "/forget")
    question = tg.last(person)
    assert "Erase everything the bot keeps about you?" in question.content
    await tg.press(person, question, "Yes, erase everything about me")


async def test_forget_erases_the_person_everywhere_and_the_figures_stay(
    world: World, tg: TelegramClient, app: App, db: async_sessionmaker[AsyncSession]
) -> None:
    person = tg.user(NAME, last_name=SURNAME, username=USERNAME, language="en", started=True)
    group = await world.registered_group(members=(person,))
    coordinator = await world.coordinator("Natalia", language="en")
    mentor = await world.mentor("Irina", "legal", language="en")
    first = await ask(tg, person, group, "Как зарегистрировать гидропонную ферму? #legal")
    await tg.press(mentor, card(tg, mentor, first), "Claim")
    await tg.send(mentor, mentor, f"/reply {first} Принесите устав и заявление")
    await tg.press(mentor, card(tg, mentor, first), "Resolve")
    # The person's own words reach the mentor's chat too: a reply in the request's thread.
    await tg.send(person, group, "Спасибо, а для аквапоники то же самое?", reply_to=tg.last(group))
    async with db.begin() as session:  # the town and organisation they gave (/profile)
        known = await session.scalar(select(Person).where(Person.telegram_id == person.id))
        assert known is not None
        session.add(Profile(person_id=known.id, town=TOWN, organisation=ORGANISATION))
    stats_before, export_before = await _figures(tg, coordinator)
    report_before = await _report(tg, coordinator)

    await tg.send(person, person, "/mydata")
    kept = tg.last(person)
    assert kept.document and kept.document["file_name"] == "mydata.json"
    assert kept.file_bytes is not None and "гидропонную ферму" in kept.file_bytes.decode()
    assert TOWN in kept.file_bytes.decode() and ORGANISATION in kept.file_bytes.decode()

    assert await _found_anywhere(app, (NAME, USERNAME, *WORDS)) >= {NAME, USERNAME, WORDS[0]}
    await _forget_myself(tg, person)
    assert "Erased" in tg.last(person).content
    # The job that follows every erasure truncates the WAL (on SQLite; nothing to do elsewhere).
    wal = WalAfterErasure(app.session_factory, app.engine)
    assert await wal.run() is (_database_file(app) is not None)
    assert not await wal.run()  # once per erasure

    assert (
        await _found_anywhere(app, (NAME, SURNAME, USERNAME, TOWN, ORGANISATION, *WORDS)) == set()
    )
    # A coordinator still reads the request's course, its texts said to be erased.
    await tg.send(coordinator, coordinator, f"/ticket {first}")
    view = tg.last(coordinator).content
    assert "Author: (erased)" in view and "Irina took the request" in view
    assert NAME not in view and WORDS[0] not in view
    stats_after, export_after = await _figures(tg, coordinator)
    assert stats_after == stats_before
    assert await _report(tg, coordinator) == report_before
    assert len(export_after) == len(export_before)
    for before, after in zip(export_before, export_after, strict=True):
        changed = [b for b, a in zip(before, after, strict=True) if a != b]
        # Only the texts of the request and its history, and its author's names, changed.
        assert all(any(w in c for w in (NAME, USERNAME, *WORDS)) for c in changed), changed
    mine = cards(tg, mentor, first)
    assert mine and all("гидропон" not in m.content for m in mine)
    assert any("its text was erased" in m.content for m in mine)
    async with db() as session:
        ticket = await session.get(Ticket, first)
        entries = list(await session.scalars(select(AuditEntry)))
    assert ticket is not None and ticket.status == TicketStatus.resolved
    erased = [e for e in entries if e.action == AuditAction.person_erased]
    assert len(erased) == 1 and erased[0].details == {"asked_by": "self", "requests": 1}


async def test_an_open_request_is_withdrawn_and_its_mentors_told(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    person = tg.user(NAME, language="en", started=True)
    group = await world.registered_group(members=(person,))
    irina = await world.mentor("Irina", "legal", language="en")
    olga = await world.mentor("Olga", "legal", language="en")
    taken = await ask(tg, person, group, "Нужен устав для гидропонную фермы #legal")
    waiting = await ask(tg, person, group, "Какой договор для аквапоники? #legal")
    await tg.press(irina, card(tg, irina, taken), "Claim")

    await _forget_myself(tg, person)

    for n in (taken, waiting):
        async with db() as session:
            ticket = await session.get(Ticket, n)
        assert ticket is not None and ticket.status == TicketStatus.cancelled
    assert "its author asked to erase their data" in tg.last(irina).content
    olgas = cards(tg, olga, waiting)
    assert olgas and not any(m.buttons for m in olgas)
    assert all("аквапоники" not in m.content for m in olgas)
    assert all(WORDS[0] not in m.content for m in cards(tg, irina, taken))


async def test_a_consultation_booked_ahead_is_cancelled_and_its_mentor_told(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    scene = await request_with_hours(world, "Пн 18:00-20:00")
    activist, mentor = scene.activist, scene.mentor
    booked = await book_from_ticket(tg, activist, scene.ticket)
    assert "✅ Записано" in booked.text
    async with db() as session:
        assert await session.scalar(select(func.count()).select_from(Reminder)) == 3

    await tg.send(activist, activist, "/forget")
    await tg.press(activist, tg.last(activist), "Да, удалить всё обо мне")

    async with db() as session:
        booking = (await session.execute(select(Booking))).scalar_one()
        meeting = await session.get(Meeting, booking.meeting_id)
        assert booking.status == BookingStatus.cancelled and booking.live is None
        assert meeting is not None and meeting.status == MeetingStatus.cancelled
        # No reminder is left to go out; a job that fires finds nothing to send.
        assert await session.scalar(select(func.count()).select_from(Reminder)) == 0
    told = [m for m in tg.inbox(mentor) if m.text.startswith("🚫 Консультация по запросу")]
    assert len(told) == 1, tg.inbox(mentor)
    assert "участник попросил удалить свои данные" in told[0].text
    assert "Активистка" not in told[0].text
    # The slot is free again: another activist may book it.
    other = await request_with_hours_again(world, mentor)
    again = await book_from_ticket(tg, other[0], other[1])
    assert "✅ Записано" in again.text


async def request_with_hours_again(world: World, mentor: FakeUser) -> tuple[FakeUser, int]:
    """Another activist's request of the mentor's topic, in a group of its own."""
    tg = world.tg
    activist = tg.user("Вторая активистка", started=True)
    group = await world.registered_group("Вторая группа", members=(activist,))
    return activist, await ask(tg, activist, group, "Ещё вопрос #юрист")


async def test_a_coordinator_forgets_a_person_of_their_programmes_only(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    person = tg.user(NAME, username=USERNAME, language="en", started=True)
    omich = tg.user("Omich", username="omich_from_omsk", language="en", started=True)
    group = await world.registered_group(members=(person,))
    omsk = await world.registered_group("Омская группа", programme=OMSK, members=(omich,))
    coordinator = await world.coordinator("Natalia", language="en")
    await ask(tg, person, group, "Как зарегистрировать гидропонную ферму?")
    await ask(tg, omich, omsk, "Which grant fits a rehabilitation centre?")

    await tg.send(coordinator, coordinator, "/forget @omich_from_omsk")
    assert "Nobody of your programmes is known by" in tg.last(coordinator).content
    assert not tg.last(coordinator).buttons
    await tg.send(coordinator, coordinator, "/forget @nobody_like_this")
    assert "Nobody of your programmes is known by" in tg.last(coordinator).content

    await tg.send(coordinator, coordinator, f"/forget @{USERNAME.upper()}")
    question = tg.last(coordinator)
    assert "Erase everything the bot keeps about" in question.content
    await tg.press(coordinator, question, "Yes, erase")
    assert "Erased" in tg.last(coordinator).content
    assert "everything about you was erased" in tg.last(person).content
    async with db() as session:
        entries = list(await session.scalars(select(AuditEntry)))
    erased = [e for e in entries if e.action == AuditAction.person_erased]
    assert len(erased) == 1 and erased[0].details["asked_by"] != "self"


async def test_a_request_half_written_in_private_is_erased_with_the_person(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    person = tg.user(NAME, username=USERNAME, language="en", started=True)
    group = await world.registered_group(members=(person,))
    await tg.send(person, group, "/topics")  # one of the group's activists
    await world.mentor("Irina", "legal", language="en")
    coordinator = await world.coordinator("Natalia", language="en")
    await tg.send(person, person, "/new")
    await tg.press(person, tg.last(person), "Legal matters")
    await tg.send(person, person, f"{WORDS[0]} для фермы: какой устав?")
    confirm = tg.last(person)
    assert WORDS[0] in confirm.content and "Send" in confirm.buttons

    await tg.send(coordinator, coordinator, f"/forget @{USERNAME}")
    await tg.press(coordinator, tg.last(coordinator), "Yes, erase")

    # The draft is gone with the rest: sending it now files nothing.
    await tg.press(person, confirm, "Send")
    assert "This dialogue is over" in (tg.last_answer(person).text or "")
    async with db() as session:
        assert list(await session.scalars(select(Ticket))) == []
    dialogue = StorageKey(world.app.bot.id, person.id, person.id)
    assert await world.app.dispatcher.storage.get_state(dialogue) is None
    assert await world.app.dispatcher.storage.get_data(dialogue) == {}


async def test_bad_input_gets_usage_and_changes_nothing(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    person = tg.user(NAME, username=USERNAME, language="en", started=True)
    group = await world.registered_group(members=(person,))
    await ask(tg, person, group, "Как зарегистрировать гидропонную ферму?")

    await tg.send(person, person, "/forget это я!")
    assert "Usage: /forget" in tg.last(person).content
    await tg.send(person, person, "/forget @someone_else")
    assert "Only coordinators" in tg.last(person).content
    await tg.send(person, group, "/forget")
    assert "in private only" in tg.last(group).content
    await tg.send(person, person, "/forget")
    await tg.press(person, tg.last(person), "Cancel")
    assert "Nothing was erased" in tg.last(person).content
    stranger = tg.user("Stranger", language="en", started=True)
    await tg.send(stranger, stranger, "/start")
    mine = tg.last(person)
    answer = await tg.press_data(stranger, mine, "fg:1:1")
    assert answer.text is not None
    async with db() as session:
        tickets = list(await session.scalars(select(Ticket)))
        entries = list(await session.scalars(select(AuditEntry)))
    assert [t.text for t in tickets] == ["Как зарегистрировать гидропонную ферму?"]
    assert not [e for e in entries if e.action == AuditAction.person_erased]


async def test_a_failing_update_logs_no_personal_text(
    world: World, tg: TelegramClient, app: App, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    person = tg.user(NAME, username=USERNAME, language="en", started=True)
    group = await world.registered_group(members=(person,))

    def broken(*_args: object, **_kwargs: object) -> None:
        raise ValueError(f"cannot read {NAME} @{USERNAME}: {WORDS[0]}")

    monkeypatch.setattr("bot.domain.tickets.clean_text", broken)
    with caplog.at_level(logging.DEBUG):
        await tg.send(person, group, f"/ask Как зарегистрировать {WORDS[0]} ферму?")
    assert "ValueError" in caplog.text
    for needle in (NAME, USERNAME, WORDS[0]):
        assert needle not in caplog.text
