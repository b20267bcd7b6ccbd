"""«General, then specialist»: with triage on, requests go to general consultants first, who
answer them or pass them to a topic's specialists with a note; bad input changes nothing."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

from openpyxl import load_workbook
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import App
from bot.jobs.sla import SlaReport, check_tickets
from bot.sandbox.emulator.client import TelegramClient
from bot.sandbox.emulator.models import FakeChat, FakeMessage, FakeUser
from bot.views.tickets import TopicButton
from models import (
    AuditAction,
    AuditEntry,
    Programme,
    Ticket,
    TicketEvent,
    TicketEventKind,
    TicketStatus,
    Topic,
)
from tests.conftest import World
from tests.ticket_steps import ask, cards, event_kinds, number_in, ticket

PASS_ON = "Pass to a specialist"


async def general(world: World, name: str) -> FakeUser:
    """A general consultant of the programme: a mentor without a topic."""
    person = world.tg.user(name, language="en")
    token = await world.invitation_token(world.admin, "/invite general")
    await world.tg.start(person, token)
    return person


async def triage_on(tg: TelegramClient, coordinator: FakeUser) -> str:
    await tg.send(coordinator, coordinator, "/triage on")
    return tg.last(coordinator).content


def card_of(tg: TelegramClient, mentor: FakeUser, n: int) -> FakeMessage:
    """The mentor's card of request ``n``: its message with «Claim» or «Resolve»."""
    found = [m for m in cards(tg, mentor, n) if {"Claim", "Resolve"} & set(tg.message(m).buttons)]
    assert found, f"no card of #{n} for {mentor}: {[m.content for m in tg.messages(mentor)]}"
    return tg.message(found[-1])


async def topic_id(db: async_sessionmaker[AsyncSession], code: str) -> int:
    async with db() as session:
        found = await session.scalar(select(Topic.id).where(Topic.code == code))
        assert found is not None, code
        return found


async def snapshot(db: async_sessionmaker[AsyncSession]) -> tuple[object, ...]:
    """Everything an escalation or a switch could change."""
    async with db() as session:
        tickets = [
            (t.id, t.status, t.assignee_id, t.topic_id, t.triage, t.escalated_at)
            for t in (await session.execute(select(Ticket).order_by(Ticket.id))).scalars()
        ]
        events = (await session.execute(select(func.count(TicketEvent.id)))).scalar_one()
        programmes = list((await session.execute(select(Programme.id, Programme.triage))).all())
        audit = (await session.execute(select(func.count(AuditEntry.id)))).scalar_one()
    return tickets, events, programmes, audit


async def setup(world: World, tg: TelegramClient) -> tuple[FakeUser, FakeChat, dict[str, FakeUser]]:
    """A group, its coordinator with triage on, a general consultant and two specialists."""
    olga = tg.user("Olga", language="en")
    group = await world.registered_group(members=(olga,))
    people = {
        "natalia": await world.coordinator("Natalia", language="en"),
        "gennady": await general(world, "Gennady"),
        "irina": await world.mentor("Irina", "legal", language="en"),
        "anna": await world.mentor("Anna", "grants", language="en"),
    }
    assert "Triage is on" in await triage_on(tg, people["natalia"])
    return olga, group, people


async def test_a_request_goes_general_then_specialist_in_one_thread(  # noqa: PLR0915 - one story, step by step
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    olga, group, people = await setup(world, tg)
    gennady, irina, anna = people["gennady"], people["irina"], people["anna"]

    n = await ask(tg, olga, group, "The registry returned our charter. What do we do now?")
    request = next(m for m in tg.messages(group) if m.from_user is olga)
    assert "A general consultant will look at it first" in tg.last(group).content
    assert (await ticket(db, n)).triage
    # Only the general consultant has the request; the specialists wait.
    assert "General consultation" in card_of(tg, gennady, n).content
    assert cards(tg, irina, n) == [] and cards(tg, anna, n) == []

    await tg.press(gennady, card_of(tg, gennady, n), "Claim")
    card = card_of(tg, gennady, n)
    assert card.buttons == ["Resolve", PASS_ON]
    assert "/escalate" in card.content

    # The general consultant asks; the author answers in the thread.
    await tg.send(gennady, gennady, "Which article did the registry name?", reply_to=card)
    asked = tg.last(group)
    assert asked.reply_to is not None and asked.reply_to.message_id == request.message_id
    await tg.send(olga, group, "Article 23, they want a new charter.", reply_to=asked)

    # Pass to a specialist: a topic, then a note.
    await tg.press(gennady, card, PASS_ON)
    card = tg.message(card)
    assert "✅ Legal matters" in card.buttons and "« Back" in card.buttons  # the suggested one
    mark = tg.mark()
    await tg.press(gennady, card, "Legal matters")
    prompt = tg.last(gennady)
    assert "Write a note" in prompt.content and "Without a note" in prompt.buttons
    assert tg.message(card).buttons == ["Resolve", PASS_ON]  # nothing changed yet
    assert (await ticket(db, n)).escalated_at is None
    await tg.send(gennady, gennady, "Article 23 refusal: a new charter is needed, by a lawyer.")
    assert "passed to the specialists of «Legal matters» (1)" in tg.last(gennady).content
    assert tg.message(prompt).buttons == []

    stored = await ticket(db, n)
    assert stored.status == TicketStatus.open and stored.assignee_id is None
    assert stored.topic_id == await topic_id(db, "legal") and stored.escalated_at is not None
    assert "You passed request" in tg.message(card).content and tg.message(card).buttons == []
    # The specialist's card carries the note and the conversation so far.
    offered = card_of(tg, irina, n)
    assert "Passed on by Gennady, general consultant" in offered.content
    assert "a new charter is needed, by a lawyer" in offered.content
    assert "The conversation so far" in offered.content
    assert "Which article did the registry name?" in offered.content
    assert "Article 23, they want a new charter." in offered.content
    assert cards(tg, anna, n) == []
    # The author hears once, in the thread, that a specialist will answer.
    told = [m for m in tg.bot_messages_since(mark) if m.chat.id == group.id]
    assert len(told) == 1
    assert "Gennady passed your request" in told[0].content
    assert "specialist will answer here" in told[0].content
    assert told[0].reply_to is not None and told[0].reply_to.message_id == request.message_id

    # The specialist claims and answers: the answer continues the same thread.
    await tg.press(irina, offered, "Claim")
    assert card_of(tg, irina, n).buttons == ["Resolve"]
    assert "Passed on by Gennady" in card_of(tg, irina, n).content
    await tg.send(irina, irina, "Here is a charter template.", reply_to=card_of(tg, irina, n))
    answer = tg.last(group)
    assert "Irina, mentor" in answer.content and "charter template" in answer.content
    assert answer.reply_to is not None and answer.reply_to.message_id == request.message_id
    await tg.press(irina, card_of(tg, irina, n), "Resolve")
    assert (await ticket(db, n)).status == TicketStatus.resolved

    # /ticket N shows the escalation and its note.
    await tg.send(olga, olga, f"/ticket {n}")
    history = tg.last(olga).content
    assert "Gennady passed the request to a specialist (Legal matters), note:" in history
    assert "a new charter is needed, by a lawyer" in history
    # The general consultant may follow how it ended.
    await tg.send(gennady, gennady, f"/ticket {n}")
    assert "Irina resolved the request" in tg.last(gennady).content
    kinds = await event_kinds(db, n)
    assert kinds.count(TicketEventKind.escalated) == 1
    assert kinds.index(TicketEventKind.escalated) < kinds.index(TicketEventKind.resolved)


async def test_passing_on_without_a_note_and_by_command(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    olga, group, people = await setup(world, tg)
    gennady, irina, anna = people["gennady"], people["irina"], people["anna"]
    first = await ask(tg, olga, group, "How do we write the grant budget?")
    second = await ask(tg, olga, group, "Can a volunteer sign the lease?")
    for n in (first, second):
        await tg.press(gennady, card_of(tg, gennady, n), "Claim")

    card = card_of(tg, gennady, first)
    await tg.press(gennady, card, PASS_ON)
    await tg.press(gennady, tg.message(card), "Grants and competitions")
    await tg.press(gennady, tg.last(gennady), "Without a note")
    assert "passed to the specialists of «Grants and competitions»" in tg.last(gennady).content
    assert "without a note" in card_of(tg, anna, first).content
    assert cards(tg, irina, first) == []

    await tg.send(gennady, gennady, f"/escalate {second} #legal Lease signed by a volunteer")
    assert "passed to the specialists of «Legal matters»" in tg.last(gennady).content
    assert "Lease signed by a volunteer" in card_of(tg, irina, second).content
    assert (await ticket(db, second)).topic_id == await topic_id(db, "legal")

    # A request filed in private goes through triage too.
    await tg.send(olga, olga, "/ask Where is the nearest resource centre?")
    await tg.press(olga, tg.last(olga), "Other")
    await tg.press(olga, tg.last(olga), "Send")
    assert "A general consultant will look at it first" in tg.last(olga).content
    private = number_in(tg.last(olga).content)
    assert card_of(tg, gennady, private).buttons == ["Claim"]
    assert cards(tg, irina, private) == [] and cards(tg, anna, private) == []

    # The general consultant's queue is the programme's requests in triage; a specialist's
    # queue leaves them out until they are passed on.
    third = await ask(tg, olga, group, "Where do we start?")
    await tg.send(gennady, gennady, "/queue")
    assert "Requests waiting for a general consultant: 2" in tg.last(gennady).content
    assert f"#{third}" in tg.last(gennady).content
    assert f"#{second}" not in tg.last(gennady).content
    await tg.send(irina, irina, "/queue")
    assert f"#{second}" in tg.last(irina).content and f"#{third}" not in tg.last(irina).content


async def test_bad_escalations_and_switches_change_nothing(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    olga, group, people = await setup(world, tg)
    natalia, gennady, irina = people["natalia"], people["gennady"], people["irina"]
    pavel = await general(world, "Pavel")
    n = await ask(tg, olga, group, "Our charter was returned.")
    done = await ask(tg, olga, group, "Thank you letter for the sponsor?")
    await tg.press(gennady, card_of(tg, gennady, n), "Claim")
    await tg.press(gennady, card_of(tg, gennady, done), "Claim")
    await tg.press(gennady, card_of(tg, gennady, done), "Resolve")
    await tg.send(natalia, natalia, "/topics archive business")
    business = await topic_id(db, "business")
    legal = await topic_id(db, "legal")
    card = card_of(tg, gennady, n)
    before = await snapshot(db)

    pressed = [
        (gennady, f"te:{n}:topic:{business}", "archived"),  # an archived topic
        (pavel, f"te:{n}:start:0", "is with Gennady"),  # another consultant's request
        (pavel, f"te:{n}:topic:{legal}", "is with Gennady"),
        (pavel, f"te:{n}:skip:{legal}", "is with Gennady"),
        (irina, f"te:{n}:start:0", "Only a general consultant"),  # a specialist
        (olga, f"te:{n}:skip:{legal}", "Only a general consultant"),  # not a mentor at all
        (gennady, f"te:{done}:start:0", "resolved"),  # a resolved request
        (gennady, f"te:{done}:skip:{legal}", "resolved"),
        (gennady, "te:999999:start:0", "There is no request #999999"),
        (gennady, f"te:{n}:topic:999999", "not valid"),  # a topic that does not exist
        (gennady, f"te:{n}:explode:0", "not valid"),
        (gennady, "te:abc:start:0", "not valid"),
        (olga, "tg:1:0", "Only a coordinator"),  # switching triage without the role
        (irina, "tg:1:0", "Only a coordinator"),
        (natalia, "tg:999999:0", "not valid"),
        (natalia, "tg:1:7", "not valid"),
        (natalia, "tg:one:1", "not valid"),
        (olga, f"te:{n}:cancel:0", "not valid"),
        (pavel, f"te:{n}:cancel:0", "not valid"),  # not the request's consultant
        (pavel, f"te:{n}:back:0", "not valid"),
    ]
    # Each presses on a message of the bot's they can see.
    await tg.send(olga, olga, "/my")  # so that the author has a message of the bot's in private
    seen = {gennady.id: card}
    for who, data, expected in pressed:
        answer = await tg.press_data(who, seen.get(who.id) or tg.last(who), data)
        assert answer.show_alert and expected in (answer.text or ""), (data, answer)
    # The consultant's own buttons pressed on the group's message: refused, the message kept.
    ack = tg.last(group)
    shown = (ack.content, ack.buttons)
    for data in (f"te:{n}:start:0", f"te:{n}:topic:{legal}", f"te:{n}:back:0"):
        answer = await tg.press_data(gennady, ack, data)
        assert answer.show_alert and "not valid" in (answer.text or ""), data
    assert (tg.message(ack).content, tg.message(ack).buttons) == shown

    typed = [
        (gennady, f"/escalate {n} business Needs a business plan", "archived"),
        (gennady, f"/escalate {n} astrology", "Unknown topic: astrology"),
        (gennady, f"/escalate {n}", "Usage: /escalate N topic"),
        (gennady, "/escalate", "Usage: /escalate N topic"),
        (pavel, f"/escalate {n} legal Mine now", "is with Gennady"),
        (irina, f"/escalate {n} legal", "Only a general consultant"),
        (olga, f"/escalate {n} legal", "Only a general consultant"),
        (gennady, f"/escalate {done} legal", "resolved"),
        (olga, "/triage off", "Only a coordinator"),
        (irina, "/triage off", "Only a coordinator"),
        (natalia, "/triage maybe", "Usage: /triage on"),
    ]
    for who, text, expected in typed:
        await tg.send(who, who, text)
        assert expected in tg.last(who).content, (text, tg.last(who).content)
    await tg.send(olga, group, "/triage off")
    assert "Only a coordinator" in tg.last(group).content

    # A note too long is refused and may be shortened; /cancel leaves everything as it was.
    await tg.press(gennady, card, PASS_ON)
    await tg.press(gennady, tg.message(card), "Legal matters")
    await tg.send(gennady, gennady, "x" * 1001)
    assert "at most 1000 characters" in tg.last(gennady).content
    await tg.send(gennady, gennady, "/cancel")
    assert "Nothing was passed on" in tg.last(gennady).content
    await tg.send(gennady, gennady, "Not a note any more")  # no longer taken as a note
    assert await snapshot(db) == before

    # Passing it on works once; a second attempt is refused.
    await tg.send(gennady, gennady, f"/escalate {n} legal")
    assert (await ticket(db, n)).escalated_at is not None
    after = await snapshot(db)
    await tg.press_data(gennady, card, f"te:{n}:skip:{legal}")
    assert "cannot be done" in (tg.last_answer(gennady).text or "") or "no longer" in (
        tg.last_answer(gennady).text or ""
    )
    assert await snapshot(db) == after


async def test_the_switch_and_a_programme_without_general_consultants(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    olga = tg.user("Olga", language="en")
    group = await world.registered_group(members=(olga,))
    natalia = await world.coordinator("Natalia", language="en")
    irina = await world.mentor("Irina", "legal", language="en")
    await tg.send(natalia, natalia, "/topics")
    assert "Triage is off: requests go straight" in tg.last(natalia).content
    await tg.send(natalia, natalia, "/triage")
    assert "Triage is off" in tg.last(natalia).content
    await tg.press(natalia, tg.last(natalia), "Turn on")
    assert "has no general consultant yet" in tg.last(natalia).content

    # Triage on but nobody to triage: the request goes straight to the specialists, and the
    # coordinators hear why.
    n = await ask(tg, olga, group, "How do we register an NGO? #legal")
    assert not (await ticket(db, n)).triage
    assert card_of(tg, irina, n).buttons == ["Claim"]
    assert "has no general consultant" in tg.last(natalia).content
    # Once, not with every request.
    again = await ask(tg, olga, group, "And the statutes? #legal")
    assert cards(tg, irina, again)
    told = [m for m in tg.messages(natalia) if "so request" in m.content]
    assert len(told) == 1 and f"#{n}" in told[0].content
    await tg.press(irina, card_of(tg, irina, n), "Claim")
    assert card_of(tg, irina, n).buttons == ["Resolve"]

    await tg.send(natalia, natalia, "/topics")
    assert "Triage is on: general consultants see new requests first" in tg.last(natalia).content
    gennady = await general(world, "Gennady")
    assert "general consultant" in tg.last(gennady).content
    await tg.send(natalia, natalia, "/mentors")
    assert "general consultant" in tg.last(natalia).content
    await tg.send(natalia, group, "/triage")
    assert "Triage is on" in tg.last(group).content and "(1)" in tg.last(group).content
    await tg.send(natalia, group, "/triage off")
    assert "Triage is off" in tg.last(group).content
    later = await ask(tg, olga, group, "And the charter? #legal")
    assert not (await ticket(db, later)).triage and cards(tg, gennady, later) == []
    async with db() as session:
        switched = (
            await session.execute(
                select(AuditEntry.details)
                .where(AuditEntry.action == AuditAction.triage_changed)
                .order_by(AuditEntry.id)
            )
        ).scalars()
        assert [d["triage"] for d in switched] == [True, False]
    await tg.send(world.admin, world.admin, "/audit")
    audit = tg.last(world.admin).content  # the admin reads Russian
    assert "Natalia: триаж в" in audit and "выключен" in audit and "включён" in audit


async def test_stats_split_general_from_specialist_consultations(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    olga, group, people = await setup(world, tg)
    natalia, gennady, irina = people["natalia"], people["gennady"], people["irina"]
    simple = await ask(tg, olga, group, "When is the next seminar?")
    legal = await ask(tg, olga, group, "The registry returned our charter.")
    pending = await ask(tg, olga, group, "Can a volunteer sign the lease?")
    for n in (simple, legal, pending):
        await tg.press(gennady, card_of(tg, gennady, n), "Claim")
    await tg.press(gennady, card_of(tg, gennady, simple), "Resolve")
    await tg.send(gennady, gennady, f"/escalate {legal} legal Needs a lawyer")
    await tg.send(gennady, gennady, f"/escalate {pending} legal")
    await tg.press(irina, card_of(tg, irina, legal), "Claim")
    await tg.press(irina, card_of(tg, irina, legal), "Resolve")
    # Passed on 30 minutes and 90 minutes after filing: the median is an hour.
    async with db.begin() as session:
        for n, minutes in ((legal, 30), (pending, 90)):
            stored = await session.get(Ticket, n)
            assert stored is not None and stored.escalated_at is not None
            await session.execute(
                update(Ticket)
                .where(Ticket.id == n)
                .values(created_at=stored.escalated_at - timedelta(minutes=minutes))
            )

    await tg.send(natalia, natalia, "/stats week")
    figures = next(m for m in tg.messages(natalia)[::-1] if "Statistics" in m.content).content
    assert "Triage: 3 requests went to general consultants first" in figures
    assert "• answered by a general consultant: 1" in figures
    assert "• passed to a specialist: 2 (67%), answered by specialists: 1" in figures
    assert "• until passed to a specialist: 1 h / " in figures and "(2)" in figures

    # The export says which requests went through triage and when they were passed on.
    await tg.send(natalia, natalia, "/export week")
    sent = next(
        m
        for m in tg.messages(natalia)[::-1]
        if m.document and str(m.document.get("file_name", "")).endswith(".xlsx")
    )
    workbook = load_workbook(io.BytesIO(sent.file_bytes or b""))
    headers, *rows = [list(r) for r in workbook.worksheets[0].iter_rows(values_only=True)]
    by_number = {row[0]: dict(zip(headers, row, strict=True)) for row in rows}
    assert by_number[simple]["Went to a general consultant first"] == "yes"
    assert by_number[simple]["Passed to a specialist, Moscow (UTC+3)"] is None
    assert by_number[legal]["Passed to a specialist, Moscow (UTC+3)"] is not None


async def test_passed_on_requests_wait_for_specialists_from_then(
    world: World, tg: TelegramClient, app: App, db: async_sessionmaker[AsyncSession]
) -> None:
    """The claim SLA counts from the moment a request was passed on; a topic with no free
    specialist is reported to the coordinators at once."""
    olga, group, people = await setup(world, tg)
    natalia, gennady = people["natalia"], people["gennady"]
    n = await ask(tg, olga, group, "Our volunteers are burning out.")
    await tg.press(gennady, card_of(tg, gennady, n), "Claim")
    await tg.send(gennady, gennady, f"/escalate {n} psychology Needs a psychologist")
    assert "no specialist of it is free right now" in tg.last(gennady).content
    assert f"/assign {n}" in tg.last(natalia).content
    async with db.begin() as session:
        await session.execute(
            update(Ticket)
            .where(Ticket.id == n)
            .values(created_at=datetime.now(UTC) - app.settings.claim_sla * 2)
        )

    async def check(after: timedelta) -> SlaReport:
        report = await check_tickets(
            app.session_factory, app.sender, app.i18n, app.settings, datetime.now(UTC) + after
        )
        await app.idle()
        return report

    assert await check(timedelta(minutes=10)) == SlaReport()  # filed long ago, passed on now
    assert await check(app.settings.claim_sla + timedelta(minutes=1)) == SlaReport(unclaimed=1)


async def test_the_author_keeps_the_topic_a_consultant_passed_the_request_on_with(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    olga, group, people = await setup(world, tg)
    natalia, gennady, irina, anna = (people[k] for k in ("natalia", "gennady", "irina", "anna"))
    n = await ask(tg, olga, group, "Can a volunteer sign the lease?")
    ack = next(m for m in tg.messages(group) if m.from_user is not olga and f"#{n}" in m.content)
    assert "Grants and competitions" in ack.buttons  # no likely topic: the author may choose
    await tg.press(gennady, card_of(tg, gennady, n), "Claim")
    await tg.send(gennady, gennady, f"/escalate {n} #legal Lease signed by a volunteer")
    assert "passed to the specialists of «Legal matters»" in tg.last(gennady).content
    before = await snapshot(db)
    mark = tg.mark()

    # The author's old topic buttons no longer send it elsewhere, nor confirm: the consultant
    # chose. Nothing changes and nobody else hears.
    for code in ("grants", "legal"):
        pressed = TopicButton(ticket=n, topic=await topic_id(db, code)).pack()
        alert = await tg.press_data(olga, ack, pressed)
        assert alert.show_alert and "already passed request" in (alert.text or "")
        assert "A coordinator of the programme can change it" in (alert.text or "")
        assert await snapshot(db) == before
    assert tg.bot_messages_since(mark) == []
    assert "Lease signed by a volunteer" in card_of(tg, irina, n).content
    # The request's page offers the author no «Topic» button any more.
    await tg.send(olga, olga, f"/ticket {n}")
    assert "Topic" not in tg.last(olga).buttons

    # A coordinator may still correct it: the other topic's specialists get it.
    await tg.send(natalia, natalia, f"/ticket {n}")
    page = tg.last(natalia)
    await tg.press(natalia, page, "Topic")
    await tg.press(natalia, tg.message(page), "Grants and competitions")
    assert (await ticket(db, n)).topic_id == await topic_id(db, "grants")
    assert cards(tg, anna, n) != []
