"""The outbox and its sender: Telegram's limits and failures, order, folding, follow-ups.

Messages are written the way handlers and jobs write them (an ``Outbox`` in a transaction) and
sent by the running bot to the fake Telegram, which enforces its limits and fails on demand.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from aiogram.exceptions import (
    TelegramNetworkError,
)
from sqlalchemy import select
from sqlalchemy import update as sa_update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import App
from bot.config import Settings
from bot.db import transaction
from bot.delivery import MessageRef, Outbox
from bot.delivery.inbox import Inbox, Stored, UpdateRunner
from bot.delivery.outbox import FollowUp, Outgoing
from bot.delivery.telegram import create_bot
from bot.sandbox.emulator.client import TelegramClient
from bot.sandbox.emulator.models import ApiCall
from bot.sandbox.emulator.server import FakeTelegram, Limits
from models import DeliveryFailure, InboxUpdate, OutboxMessage, OutboxStatus, Person
from tests.conftest import World, start_app, stop_app


async def write(app: App, *messages: tuple[int, str]) -> list[MessageRef]:
    """Messages written in one transaction, as a handler writes them; then sent."""
    async with transaction(app.session_factory) as session:
        outbox = Outbox(session, app.sender)
        refs = [await outbox.send(chat, text, purpose="test") for chat, text in messages]
    await app.idle()
    return refs


def calls(server: FakeTelegram, method: str, chat_id: int | None = None) -> list[ApiCall]:
    return [
        c
        for c in server.calls
        if c.method == method and (chat_id is None or c.params.get("chat_id") == chat_id)
    ]


async def rows(db: async_sessionmaker[AsyncSession]) -> Sequence[OutboxMessage]:
    async with db() as session:
        return (
            (await session.execute(select(OutboxMessage).order_by(OutboxMessage.id)))
            .scalars()
            .all()
        )


# --- Telegram's answers ------------------------------------------------------------------------


async def test_a_429_is_retried_after_retry_after_and_not_before(
    app: App, tg: TelegramClient, server: FakeTelegram
) -> None:
    person = tg.user("Ольга", started=True)
    server.fail_next("sendMessage", 429, "Too Many Requests: retry after 2", retry_after=2)
    await tg.send(person, person, "/help")
    assert "Что можно сделать" in tg.last(person).text
    refused, sent = calls(server, "sendMessage", person.id)
    assert refused.error is not None and refused.error.error_code == 429
    assert sent.ok
    assert sent.at - refused.at >= 2, "the chat did not wait the retry_after Telegram asked for"


async def test_server_errors_are_retried_with_growing_pauses(
    app: App, tg: TelegramClient, server: FakeTelegram
) -> None:
    app.sender.retry.base = 0.2
    person = tg.user("Ольга", started=True)
    server.fail_next("sendMessage", 502, "Bad Gateway", times=3)
    await tg.send(person, person, "/help")
    assert "Что можно сделать" in tg.last(person).text
    attempts = [c.at for c in calls(server, "sendMessage", person.id)]
    assert len(attempts) == 4
    # Backoff 0.2, 0.4, 0.8 s, each with jitter of ±50 %: each pause at least half its step.
    pauses = [b - a for a, b in zip(attempts, attempts[1:], strict=False)]
    assert pauses[0] >= 0.1 and pauses[1] >= 0.2 and pauses[2] >= 0.4


async def test_a_message_is_never_given_up_while_telegram_fails_and_the_chat_keeps_its_order(
    app: App, tg: TelegramClient, server: FakeTelegram, db: async_sessionmaker[AsyncSession]
) -> None:
    app.sender.retry.base, app.sender.retry.cap = 0.01, 0.05
    person = tg.user("Ольга", started=True)
    server.fail_next("sendMessage", 502, "Bad Gateway", times=12)
    await write(app, (person.id, "Первое"), (person.id, "Второе"))
    assert [m.text for m in tg.inbox(person)] == ["Первое", "Второе"]
    first = (await rows(db))[-2]
    assert first.status == OutboxStatus.sent
    assert first.attempts == 12


async def test_a_permanent_refusal_ends_a_message_and_the_chat_goes_on(
    app: App, tg: TelegramClient, server: FakeTelegram, db: async_sessionmaker[AsyncSession]
) -> None:
    person = tg.user("Ольга", started=True)
    server.fail_next("sendMessage", 400, "Bad Request: message text is empty")
    await write(app, (person.id, "Первое"), (person.id, "Второе"))
    assert [m.text for m in tg.inbox(person)] == ["Второе"]
    first = (await rows(db))[-2]
    assert first.status == OutboxStatus.failed
    assert first.error == "Bad Request: message text is empty"


async def test_undeliverable_messages_are_recorded(
    app: App, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    person = tg.user("Молчун", started=True)
    await tg.send(person, person, "/start")
    person.started = False  # the person blocked the bot after all
    await write(app, (person.id, "Привет"), (-999, "Привет"))
    async with db() as session:
        failures = list((await session.execute(select(DeliveryFailure))).scalars())
        stored = (
            await session.execute(select(Person).where(Person.telegram_id == person.id))
        ).scalar_one()
    assert [f.chat_telegram_id for f in failures] == [person.id, -999]
    assert "can't initiate conversation" in failures[0].error or "blocked" in failures[0].error
    assert "chat not found" in failures[1].error
    assert not stored.private_chat_open
    assert [r.status for r in (await rows(db))[-2:]] == [OutboxStatus.failed] * 2


async def test_a_group_upgraded_to_a_supergroup_gets_its_messages_at_the_new_id(
    world: World, tg: TelegramClient, app: App
) -> None:
    group = await world.registered_group()
    supergroup = await tg.migrate_to_supergroup(group)
    await write(app, (group.id, "Для группы"))  # written before the bot learnt the new id
    assert tg.last(supergroup).text == "Для группы"


# --- the limits ------------------------------------------------------------------------------


@pytest.fixture
def slow_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"rate_private_per_second": 2.0, "rate_global_per_second": 4.0}
    )


async def test_send_limits_are_respected_not_discovered(
    slow_settings: Settings, server: FakeTelegram, tg: TelegramClient
) -> None:
    server.limits = Limits(global_per_second=4, private_count=2, private_window=1.0, group_count=20)
    running, task = await start_app(slow_settings, server)
    people = [tg.user(f"Человек {n}", started=True) for n in range(3)]
    try:
        started = time.monotonic()
        await write(running, *[(p.id, f"Сообщение {n}") for n in range(4) for p in people])
        elapsed = time.monotonic() - started
    finally:
        await stop_app(running, task)
    assert [c for c in server.calls if not c.ok] == []
    for person in people:
        assert [m.text for m in tg.inbox(person)] == [f"Сообщение {n}" for n in range(4)]
    # Twelve messages at four a second: the first four at once, the rest over two seconds.
    assert elapsed >= 2


async def test_a_chat_waiting_for_its_budget_never_delays_another(
    slow_settings: Settings, server: FakeTelegram, tg: TelegramClient
) -> None:
    running, task = await start_app(slow_settings, server)
    busy, other = tg.user("Занятой", started=True), tg.user("Другой", started=True)
    try:
        await write(running, *[(busy.id, f"Очередь {n}") for n in range(6)], (other.id, "Сразу"))
    finally:
        await stop_app(running, task)
    sent = [m for m in server.history[busy.id] + server.history[other.id] if m.by_bot]
    order = [m.text for m in sorted(sent, key=lambda m: m.seq)]
    # The busy chat gets two a second; the other chat's message does not wait behind them.
    assert order.index("Сразу") <= 2
    assert [m.text for m in tg.inbox(busy)] == [f"Очередь {n}" for n in range(6)]


async def test_each_send_starts_the_next_without_waiting_for_the_outbox_poll(
    app: App, tg: TelegramClient, server: FakeTelegram
) -> None:
    # One message on its way at a time: each finished send, once recorded, must itself start
    # the next one. With the poll an hour away, nothing else would.
    app.sender.max_in_flight = 1
    app.sender.poll_seconds = 3600
    people = [tg.user(f"Человек {n}", started=True) for n in range(4)]
    await write(app, *[(p.id, f"Сообщение {n}") for n in range(3) for p in people])
    for person in people:
        assert [m.text for m in tg.inbox(person)] == [f"Сообщение {n}" for n in range(3)]
    assert len(calls(server, "sendMessage")) == 12


async def test_a_chats_messages_keep_their_order_through_a_retry(
    app: App, tg: TelegramClient, server: FakeTelegram
) -> None:
    app.sender.retry.base = 0.05
    person = tg.user("Ольга", started=True)
    server.fail_next("sendMessage", 502, "Bad Gateway")
    await write(app, *[(person.id, f"Номер {n}") for n in range(5)])
    assert [m.text for m in tg.inbox(person)] == [f"Номер {n}" for n in range(5)]


# --- what is folded before it goes ----------------------------------------------------------


async def test_an_edit_of_a_message_not_sent_yet_goes_as_its_content(
    app: App, tg: TelegramClient, server: FakeTelegram
) -> None:
    person = tg.user("Наставник", started=True)
    async with transaction(app.session_factory) as session:
        outbox = Outbox(session, app.sender)
        card = await outbox.send(person.id, "Новый запрос", purpose="test")
        await outbox.edit(person.id, card, "Запросом занимается Ирина")
    await app.idle()
    assert [m.text for m in tg.inbox(person)] == ["Запросом занимается Ирина"]
    assert calls(server, "editMessageText") == []


async def test_messages_written_together_keep_their_order_and_each_its_own_reference(
    app: App, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    first, second = tg.user("Наставник", started=True), tg.user("Наставница", started=True)
    async with transaction(app.session_factory) as session:
        outbox = Outbox(session, app.sender)
        await outbox.send(first.id, "Раньше", purpose="test")
        refs = await outbox.send_many(
            [
                Outgoing(first.id, "Карточка 1", purpose="test"),
                Outgoing(second.id, "Карточка 2", purpose="test"),
                Outgoing(first.id, "Карточка 3", purpose="test"),
            ]
        )
        await outbox.edit(first.id, refs[2], "Карточка 3, исправленная")
        await outbox.edit(second.id, refs[1], "Карточка 2, исправленная")
    await app.idle()
    assert [m.text for m in tg.inbox(first)] == [
        "Раньше",
        "Карточка 1",
        "Карточка 3, исправленная",
    ]
    assert [m.text for m in tg.inbox(second)] == ["Карточка 2, исправленная"]
    # Each reference names its own row (ids in the order the messages were given).
    written: dict[int | None, tuple[int, str]] = {
        r.id: (r.chat_id, r.params["text"]) for r in await rows(db)
    }
    assert [written[ref.outbox_id] for ref in refs] == [
        (first.id, "Карточка 1"),
        (second.id, "Карточка 2"),
        (first.id, "Карточка 3"),
    ]
    assert await outbox.send_many([]) == []


async def test_a_card_withdrawn_before_it_was_sent_is_never_sent(
    app: App, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    person = tg.user("Наставник", started=True)
    async with transaction(app.session_factory) as session:
        outbox = Outbox(session, app.sender)
        card = await outbox.send(person.id, "Новый запрос", purpose="test")
        await outbox.edit(person.id, card, "Запрос уже взят", withdraw_unsent=True)
        await outbox.send(person.id, "Следующее", purpose="test")
    await app.idle()
    assert [m.text for m in tg.inbox(person)] == ["Следующее"]
    assert [r.status for r in await rows(db)][-3:] == [
        OutboxStatus.dropped,
        OutboxStatus.dropped,
        OutboxStatus.sent,
    ]


async def test_a_later_edit_of_the_same_message_makes_an_earlier_one_unneeded(
    app: App, tg: TelegramClient, server: FakeTelegram
) -> None:
    person = tg.user("Наставник", started=True)
    [sent] = await write(app, (person.id, "Сводка: 1 запрос"))
    async with transaction(app.session_factory) as session:
        outbox = Outbox(session, app.sender)
        target = MessageRef(outbox_id=sent.outbox_id)
        for count in (2, 3, 4):
            await outbox.edit(person.id, target, f"Сводка: {count} запроса")
    await app.idle()
    assert [m.text for m in tg.inbox(person)] == ["Сводка: 4 запроса"]
    assert len(calls(server, "editMessageText")) == 1


async def test_a_follow_up_says_what_became_of_the_message_it_waited_for(
    app: App, tg: TelegramClient
) -> None:
    writer = tg.user("Координатор", started=True)
    reachable, blocked = tg.user("Ирина", started=True), tg.user("Павел", started=False)
    async with transaction(app.session_factory) as session:
        outbox = Outbox(session, app.sender)
        for person in (reachable, blocked):
            await outbox.send(
                person.id,
                "Ссылка-приглашение",
                purpose="test",
                then=FollowUp(writer.id, f"{person.first_name}: доставлено"),
                otherwise=FollowUp(writer.id, f"{person.first_name}: не доставлено"),
            )
    await app.idle()
    assert sorted(m.text for m in tg.inbox(writer)) == ["Ирина: доставлено", "Павел: не доставлено"]


# --- the guard --------------------------------------------------------------------------------


async def test_no_bot_api_call_is_made_while_a_transaction_is_open(app: App) -> None:
    async with transaction(app.session_factory):
        with pytest.raises(RuntimeError, match="inside a database transaction"):
            await app.bot.get_me()
        with pytest.raises(RuntimeError, match="inside a database transaction"):
            await app.bot.send_message(1, "x")
    assert (await app.bot.get_me()).id == app.bot.id


async def test_an_unreachable_telegram_is_a_network_error() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    bot = create_bot("42:TEST", f"http://127.0.0.1:{port}")
    try:
        with pytest.raises(TelegramNetworkError):
            await bot.send_message(1, "x")
    finally:
        await bot.session.close()


# --- the inbox --------------------------------------------------------------------------------


async def test_updates_are_stored_before_the_offset_confirms_them(
    app: App, tg: TelegramClient, server: FakeTelegram, db: async_sessionmaker[AsyncSession]
) -> None:
    """The next getUpdates tells Telegram the previous ones arrived: they are stored by then."""
    checked: list[int] = []

    async def stored_when_confirmed(method: str, params: dict[str, object]) -> None:
        offset = params.get("offset")
        if method != "getUpdates" or not isinstance(offset, int):
            return
        confirming = [
            update_id
            for update_id, pending in server._pending.items()  # noqa: SLF001 - the fake's own
            if pending.served and not pending.done.is_set() and update_id < offset
        ]
        async with db() as session:
            stored = set((await session.execute(select(InboxUpdate.update_id))).scalars())
        assert set(confirming) <= stored, f"confirmed before stored: {set(confirming) - stored}"
        checked.extend(confirming)

    server.observers.append(stored_when_confirmed)
    person = tg.user("Ольга", started=True)
    for text in ("/help", "/topics", "/my"):
        await tg.send(person, person, text)
    server.observers.remove(stored_when_confirmed)
    assert len(checked) == 3


async def test_one_chats_updates_are_handled_in_the_order_they_came(
    app: App, tg: TelegramClient, server: FakeTelegram
) -> None:
    person = tg.user("Ольга", started=True)
    zones = [f"UTC+{hours}" for hours in range(1, 13)]
    pending = []
    for zone in zones:
        message = server.new_message(
            server.private_chat(person), person, body=f"/tz {zone}", entities=[
                {"type": "bot_command", "offset": 0, "length": 3}
            ],
        )  # fmt: skip
        pending.append(server.enqueue({"message": message.to_api()}))
    for update in pending:
        await server.wait_processed(update)
    answers = [m.text for m in tg.inbox(person)]
    assert answers == [f"Ваш часовой пояс теперь UTC+{h}." for h in range(1, 13)]


async def test_an_update_taken_over_from_a_dead_process_goes_before_the_later_ones(
    app: App, tg: TelegramClient, server: FakeTelegram, db: async_sessionmaker[AsyncSession]
) -> None:
    """A replica holds a chat's later update, waiting for the earlier one that a dead replica
    had stored; once it takes that one over, both are handled, in their order."""
    person = tg.user("Ольга", started=True)

    def update(number: int, text: str) -> Stored:
        message = server.new_message(
            server.private_chat(person), person, body=text,
            entities=[{"type": "bot_command", "offset": 0, "length": 3}],
        )  # fmt: skip
        payload = json.dumps({"update_id": number, "message": message.to_api()})
        return Stored.read(number, payload, app.bot)

    dead = Inbox(app.session_factory, "elsewhere:1:dead")
    await dead.store([update(900_001, "/tz UTC+1")])
    async with transaction(db) as session:
        await session.execute(
            sa_update(InboxUpdate).values(lease_until=datetime.now(UTC) - timedelta(seconds=1))
        )
    survivor = UpdateRunner(app.dispatcher, app.bot, app.inbox, ordered_across_processes=True)
    survivor.submit(await app.inbox.store([update(900_002, "/tz UTC+2")]))
    await asyncio.sleep(0.5)
    assert survivor.backlog == 1  # waiting for the earlier update, held by the dead process
    survivor.submit(await app.inbox.take_waiting(all_of_them=False))
    for _ in range(500):
        if survivor.idle():
            break
        await asyncio.sleep(0.02)
    assert survivor.idle(), "the two updates waited for each other"
    await app.idle()
    answers = [m.text for m in tg.inbox(person)]
    assert answers == ["Ваш часовой пояс теперь UTC+1.", "Ваш часовой пояс теперь UTC+2."]


def test_each_update_keeps_the_order_of_its_chat() -> None:
    """The chat an update waits its turn in: its message's chat (a button's message's, a
    reaction's), else the person it is from; an update of neither shares the line 0."""
    bot = create_bot("1:test", "http://127.0.0.1:9")
    person = {"id": 7, "is_bot": False, "first_name": "Ольга"}
    group = {"id": -100, "type": "group", "title": "Команда"}
    message = {"message_id": 1, "date": 0, "chat": group, "from": person, "text": "hi"}
    cases: dict[int, list[dict[str, object]]] = {
        -100: [
            {"message": message},
            {"edited_message": {**message, "edit_date": 1}},
            {"callback_query": {"id": "q", "from": person, "chat_instance": "c",
                                "message": message}},
            {"message_reaction": {"chat": group, "message_id": 1, "date": 0, "user": person,
                                  "old_reaction": [], "new_reaction": []}},
        ],
        7: [
            {"callback_query": {"id": "q", "from": person, "chat_instance": "c",
                                "inline_message_id": "i"}},
            {"inline_query": {"id": "q", "from": person, "query": "", "offset": ""}},
        ],
        0: [{"poll": {"id": "p", "question": "?", "options": [], "total_voter_count": 0,
                      "is_closed": True, "is_anonymous": True, "type": "regular",
                      "allows_multiple_answers": False, "allows_revoting": False,
                      "members_only": False}}],
    }  # fmt: skip
    for number, (expected, updates) in enumerate(cases.items()):
        for update in updates:
            stored = Stored.read(number, json.dumps({"update_id": number, **update}), bot)
            assert stored.unreadable is None, stored.unreadable
            assert stored.chat_key == expected, update
