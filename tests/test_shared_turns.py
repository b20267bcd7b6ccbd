"""Updates ready at once share a transaction; a failure among them costs nothing twice.

Under a burst the runner handles the messages of different chats that are ready together one
after another in one transaction (``bot.delivery.inbox.UpdateRunner``). These tests store
updates in the real inbox and let the running bot's runner take them, against an SQLite file
or PostgreSQL, and read what happened from the inbox and from the fake Telegram.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.base import StorageKey
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.types import Update
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import App
from bot.db import sqlite_inline, write_lock
from bot.delivery.inbox import Inbox
from bot.domain.people import set_timezone
from bot.sandbox.emulator.client import TelegramClient
from bot.sandbox.emulator.models import FakeUser
from bot.sandbox.emulator.server import FakeTelegram
from bot.telegram.fsm import TransactionalStorage
from models import InboxUpdate, Person
from tests.conftest import World
from tests.ticket_steps import card, number_in, ticket

ZONE_ANSWER = "Ваш часовой пояс теперь UTC+{:02d}:00."


def people(tg: TelegramClient, count: int) -> list[FakeUser]:
    return [tg.user(f"Участник {n + 1}", started=True) for n in range(count)]


def tz_updates(
    app: App, server: FakeTelegram, who: Sequence[FakeUser], first_id: int = 800_000
) -> list[Update]:
    """Each person sends ``/tz UTC+n`` (n from 1) in their own chat with the bot."""
    updates = []
    for n, person in enumerate(who, start=1):
        message = server.new_message(
            server.private_chat(person), person, body=f"/tz UTC+{n}",
            entities=[{"type": "bot_command", "offset": 0, "length": 3}],
        )  # fmt: skip
        updates.append(
            Update.model_validate(
                {"update_id": first_id + n, "message": message.to_api()}, context={"bot": app.bot}
            )
        )
    return updates


async def handled_at(db: async_sessionmaker[AsyncSession], updates: Sequence[Update]) -> list[Any]:
    async with db() as session:
        found = await session.execute(
            select(InboxUpdate.handled_at)
            .where(InboxUpdate.update_id.in_([u.update_id for u in updates]))
            .order_by(InboxUpdate.update_id)
        )
        return list(found.scalars())


def zone_answers(tg: TelegramClient, who: Sequence[FakeUser]) -> list[list[str]]:
    return [[m.text for m in tg.inbox(person)] for person in who]


async def test_updates_of_different_chats_ready_together_share_one_transaction(
    app: App, tg: TelegramClient, server: FakeTelegram, db: async_sessionmaker[AsyncSession]
) -> None:
    who = people(tg, 8)
    updates = tz_updates(app, server, who)
    app.runner.submit(await app.inbox.store(updates))
    await app.idle()
    assert zone_answers(tg, who) == [[ZONE_ANSWER.format(n)] for n in range(1, 9)]
    moments = await handled_at(db, updates)
    assert None not in moments
    # Marked handled in one statement of one transaction: one moment for all.
    assert len(set(moments)) == 1


async def test_the_chats_of_a_turn_join_the_next_one_with_their_next_updates(
    app: App, tg: TelegramClient, server: FakeTelegram, db: async_sessionmaker[AsyncSession]
) -> None:
    """Ten chats with two updates each: the turn after the first is taken once the first has
    ended, with the next updates of its chats, not with the two left over alone."""
    who = people(tg, 10)
    updates = [*tz_updates(app, server, who), *tz_updates(app, server, who, first_id=900_000)]
    app.runner.submit(await app.inbox.store(updates))
    await app.idle()
    assert zone_answers(tg, who) == [[ZONE_ANSWER.format(n)] * 2 for n in range(1, 11)]
    moments = await handled_at(db, updates)
    assert None not in moments
    # 8, 8 and 4 updates to a transaction; taken as soon as a slot was free, 8, 2, 8 and 2.
    assert len(set(moments)) == 3


async def test_a_failure_in_a_shared_transaction_costs_nothing_twice(
    app: App,
    tg: TelegramClient,
    server: FakeTelegram,
    db: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fifth handler fails once: the whole transaction is rolled back, nothing of it was
    said, and each update is handled again alone; everyone hears back exactly once."""
    who = people(tg, 8)
    failures: list[str] = []
    real = set_timezone

    def fails_once_for_the_fifth(person: Person, text: str) -> str:
        if text.strip() == "UTC+5" and not failures:
            failures.append(text)
            msg = "a bug in one handler"
            raise RuntimeError(msg)
        return real(person, text)

    monkeypatch.setattr("handlers.people.set_timezone", fails_once_for_the_fifth)
    updates = tz_updates(app, server, who)
    app.runner.submit(await app.inbox.store(updates))
    await app.idle()
    assert failures == ["UTC+5"]
    assert zone_answers(tg, who) == [[ZONE_ANSWER.format(n)] for n in range(1, 9)]
    assert server.count_calls("sendMessage") == 8
    assert None not in await handled_at(db, updates)
    async with db() as session:
        found = await session.execute(select(Person.telegram_id, Person.timezone))
        zones = dict(found.all())
    assert [zones[p.id] for p in who] == [f"UTC+{n:02d}:00" for n in range(1, 9)]


async def test_an_update_another_process_took_over_is_left_to_it(
    app: App, tg: TelegramClient, server: FakeTelegram, db: async_sessionmaker[AsyncSession]
) -> None:
    """One of the updates of a shared transaction is held by another process now (its lease
    here lapsed and was taken over): marking them handled together finds one short, so the
    transaction is rolled back, the others are handled alone, and that one is left to the
    process that holds it."""
    who = people(tg, 4)
    updates = tz_updates(app, server, who)
    stored = await app.inbox.store(updates)
    async with db.begin() as session:
        await session.execute(
            update(InboxUpdate)
            .where(InboxUpdate.update_id == updates[2].update_id)
            .values(lease_owner="elsewhere:2:alive")
        )
    app.runner.submit(stored)
    for _ in range(1000):  # not app.idle(): the third stays unhandled here
        if app.runner.idle() and await app.delivery.idle():
            break
        await asyncio.sleep(0.01)
    one, two, four = (ZONE_ANSWER.format(n) for n in (1, 2, 4))
    assert zone_answers(tg, who) == [[one], [two], [], [four]]
    moments = await handled_at(db, updates)
    assert moments[2] is None and None not in moments[:2] + moments[3:]
    assert len(set(moments[:2] + moments[3:])) == 3  # each alone


async def test_a_dialogue_moves_on_only_when_its_transaction_commits(
    world: World,
    tg: TelegramClient,
    db: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The request's text is taken, then its transaction fails: handled again, it is still
    the text step of the dialogue, not the next one."""
    olga = tg.user("Ольга", started=True)
    group = await world.registered_group(members=(olga,))
    await tg.send(olga, group, "/topics")
    fundraiser = await world.mentor("Анна", "grants")
    await tg.send(olga, olga, "/new")
    await tg.press(olga, tg.last(olga), "Гранты и конкурсы")
    assert "одним сообщением" in tg.last(olga).content

    real = Inbox.finish
    failures: list[int] = []

    async def fails_once(inbox: Inbox, session: AsyncSession, update_id: int) -> None:
        if not failures:
            failures.append(update_id)
            msg = "the commit did not happen"
            raise RuntimeError(msg)
        await real(inbox, session, update_id)

    monkeypatch.setattr(Inbox, "finish", fails_once)
    await tg.send(olga, olga, "Можно ли заложить в смету гранта аренду помещения?")
    monkeypatch.setattr(Inbox, "finish", real)
    assert len(failures) == 1
    confirm = tg.last(olga)
    assert "смету гранта" in confirm.content and "Гранты и конкурсы" in confirm.content
    await tg.press(olga, confirm, "Отправить")
    n = number_in(tg.message(confirm).content)
    assert (await ticket(db, n)).text.startswith("Можно ли заложить")
    assert card(tg, fundraiser, n).buttons == ["Взять"]


class Step(StatesGroup):
    one = State()
    two = State()


async def test_dialogue_changes_are_held_until_applied() -> None:
    inner = MemoryStorage()
    storage = TransactionalStorage(inner)
    key = StorageKey(bot_id=1, chat_id=2, user_id=3)
    await storage.set_state(key, Step.one)
    with storage.hold() as changes:
        await storage.set_state(key, Step.two)
        await storage.update_data(key, {"text": "draft"})
        assert await storage.get_state(key) == Step.two.state
        assert await storage.get_data(key) == {"text": "draft"}
        assert await inner.get_state(key) == Step.one.state
        assert await inner.get_data(key) == {}
    assert await storage.get_state(key) == Step.one.state  # rolled back: forgotten
    with storage.hold() as changes:
        await storage.set_state(key, Step.two)
        await storage.update_data(key, {"text": "draft"})
    await storage.apply(changes)
    assert await inner.get_state(key) == Step.two.state
    assert await inner.get_data(key) == {"text": "draft"}
    await storage.close()


# --- SQLite: the sender's turn at writing --------------------------------------------------------


async def test_a_shared_transaction_ends_early_when_the_sender_asks_for_a_turn(
    app: App, tg: TelegramClient, server: FakeTelegram, db: async_sessionmaker[AsyncSession]
) -> None:
    """While the bot's transactions follow one another, the sender process asks for a turn
    (``WriteLock.lend``): the transaction at hand ends after its current update, the sender's
    turn comes, and the other updates wait for the next transaction."""
    lock = write_lock(app.session_factory)
    if lock is None:
        pytest.skip("PostgreSQL lets both processes write at once: no turn to lend")
    who = people(tg, 4)
    updates = tz_updates(app, server, who)
    stored = await app.inbox.store(updates)
    given_back = asyncio.Event()
    await lock.acquire()  # a transaction of the bot's is under way
    app.runner.submit(stored)
    await asyncio.sleep(0.05)  # the four are ready, and wait for it together
    lent = lock.lend(given_back, longest=10)
    assert lock.asked == 1
    lock.release()
    for _ in range(200):
        if lock.asked == 0:
            break
        await asyncio.sleep(0.01)
    assert lock.asked == 0 and lock.locked()  # the turn is the sender's now
    moments = await handled_at(db, updates)
    assert sum(m is not None for m in moments) == 1  # one update, then the turn
    given_back.set()
    await lent
    await app.idle()
    assert zone_answers(tg, who) == [[ZONE_ANSWER.format(n)] for n in range(1, 5)]
    moments = await handled_at(db, updates)
    assert None not in moments and len(set(moments)) == 2


@pytest.mark.no_database
def test_a_write_that_finds_the_file_locked_asks_for_a_turn_once(tmp_path: Path) -> None:
    """``on_contention``: asked when a statement first finds the file locked, finished when
    that transaction ends; not asked when nothing was in the way."""
    path = tmp_path / "turns.sqlite3"
    setup = sqlite3.connect(path)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE t (x INTEGER)")
    setup.commit()
    calls: list[str] = []

    async def scenario() -> None:
        sqlite_inline.on_contention(lambda: calls.append("asked"), lambda: calls.append("done"))
        connect = sqlite_inline.connector(str(path), timeout=5)
        ours = await connect()
        try:
            await ours.execute("INSERT INTO t VALUES (1)")
            await ours.commit()
            assert calls == []
            holder = sqlite3.connect(path, timeout=0)
            holder.execute("BEGIN IMMEDIATE")
            loop = asyncio.get_running_loop()
            loop.call_later(0.05, holder.commit)
            await ours.execute("INSERT INTO t VALUES (2)")
            assert calls == ["asked"]
            await ours.execute("INSERT INTO t VALUES (3)")
            await ours.commit()
            assert calls == ["asked", "done"]
            holder.close()
        finally:
            sqlite_inline.on_contention(None, None)
            await ours.close()

    asyncio.run(scenario())
    assert [row[0] for row in setup.execute("SELECT x FROM t ORDER BY x")] == [1, 2, 3]
    setup.close()
