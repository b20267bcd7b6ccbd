"""No request stranded: a guessed topic nobody could take, or a vague request, is put to its
author first, among the topics that have a mentor with room; no card goes out before, and no
"no free mentors" text unless the author chose such a topic. A coordinator's alert that nobody
could get a request is edited once someone took it."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.sandbox.emulator.client import TelegramClient
from tests.conftest import World
from tests.ticket_steps import ask, card, cards, ticket

STRANDED = "Где найти деньги на ремонт реабилитационного центра для инвалидов?"
NOBODY_FREE = "свободн"  # of "No mentor of this topic is free right now", in Russian


async def test_a_guess_nobody_could_take_goes_to_the_author_first(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    author = tg.user("Ольга")
    group = await world.registered_group(members=(author,))
    coordinator = await world.coordinator("Наталья")
    grants = await world.mentor("Пётр", "grants")
    n = await ask(tg, author, group, STRANDED)
    ack = tg.last(group)
    assert (await ticket(db, n)).topic_id is None  # nothing guessed for the mentors yet
    assert ack.buttons == ["Гранты и конкурсы"]  # the one topic with a mentor who has room
    assert NOBODY_FREE not in ack.content.lower()
    assert cards(tg, grants, n) == []
    assert not any(f"/assign {n}" in m.content for m in tg.bot_messages(coordinator))

    await tg.press(author, ack, "Гранты и конкурсы")  # one tap
    assert card(tg, grants, n)
    assert NOBODY_FREE not in tg.message(ack).content.lower()
    assert not any(f"/assign {n}" in m.content for m in tg.bot_messages(coordinator))


async def test_a_vague_request_is_asked(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    author = tg.user("Ольга")
    group = await world.registered_group(members=(author,))
    lawyer = await world.mentor("Ирина", "legal")
    await world.mentor("Никита", "other")
    n = await ask(tg, author, group, "Подскажите, пожалуйста, что делать?")
    ack = tg.last(group)
    assert (await ticket(db, n)).topic_id is None
    assert len(ack.buttons) >= 2 and cards(tg, lawyer, n) == []


async def test_an_alert_is_edited_once_someone_takes_the_request(
    world: World, tg: TelegramClient
) -> None:
    author = tg.user("Ольга")
    group = await world.registered_group(members=(author,))
    coordinator = await world.coordinator("Наталья")
    n = await ask(tg, author, group, "Как зарегистрировать АНО? #юрист")  # no lawyer yet
    alert = next(m for m in tg.bot_messages(coordinator) if f"/assign {n}" in m.content)
    lawyer = await world.mentor("Ирина", "legal")
    await tg.send(coordinator, coordinator, f"/assign {n}")
    choice = tg.last(coordinator)
    await tg.press(coordinator, choice, next(b for b in choice.buttons if "Ирина" in b))
    settled = tg.message(alert)
    assert settled.edited and "/assign" not in settled.content
    assert "Ирина" in settled.content
    assert card(tg, lawyer, n)
