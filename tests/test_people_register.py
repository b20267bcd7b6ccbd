"""Who is reached: the town question once after a first request, ``/profile``, and ``/people``
scoped to a coordinator's programmes, with an audit entry per view."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import App
from bot.config import Settings
from bot.domain.register import town_name
from bot.sandbox.emulator.client import TelegramClient
from bot.sandbox.emulator.models import FakeChat, FakeMessage, FakeUser
from bot.sandbox.emulator.server import FakeTelegram
from models import AuditAction, AuditEntry, Profile
from tests.conftest import SettableClock, World, start_app, stop_app

QUESTION = "Из какого вы города?"


@pytest.fixture
async def app(settings: Settings, server: FakeTelegram, clock: SettableClock) -> AsyncIterator[App]:
    """The bot with the town question on, as it is deployed."""
    app, task = await start_app(settings.model_copy(update={"ask_profile": True}), server, clock)
    try:
        yield app
    finally:
        await stop_app(app, task)


async def ask(tg: TelegramClient, author: FakeUser, chat: FakeChat, question: str) -> None:
    await tg.send(author, chat, f"/ask {question}")
    assert any("принят" in m.content for m in tg.bot_messages(chat)[-3:])


def questions(tg: TelegramClient, where: FakeUser | FakeChat) -> list[FakeMessage]:
    return [m for m in tg.bot_messages(where) if QUESTION in m.content]


async def profiles(db: async_sessionmaker[AsyncSession]) -> dict[int, Profile]:
    async with db() as session:
        return {p.person_id: p for p in (await session.execute(select(Profile))).scalars()}


def test_town_names_lose_their_prefixes() -> None:
    for typed in ("г. Стаханов", "Стаханов", "город Стаханов", "  г.Стаханов ", "стаханов"):
        assert town_name(typed) == "Стаханов", typed
    assert town_name("пгт Луганское") == "Луганское"
    assert town_name("miasto Łódź") == "Łódź"


async def test_the_question_comes_once_and_names_one_town_however_written(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    olga = tg.user("Ольга", started=True)
    petr = tg.user("Пётр", started=True)
    group = await world.registered_group(members=(olga, petr))
    await tg.send(olga, olga, "/start")
    await ask(tg, olga, group, "Как зарегистрировать НКО? #юрист")
    asked = questions(tg, olga)
    assert len(asked) == 1 and "Пропустить" in asked[0].buttons
    await tg.press(olga, asked[0], "✍️ Другой город")
    await tg.send(olga, olga, "г. Стаханов")
    assert "Город: Стаханов" in tg.last(olga).content
    assert "Из какой вы организации" in tg.last(olga).content
    await tg.press(olga, tg.last(olga), "Пропустить")
    mark = tg.mark()
    await ask(tg, olga, group, "А какой устав писать? #юрист")
    assert not any(QUESTION in m.content for m in tg.bot_messages_since(mark)), "asked once"

    # Пётр has no private chat open: he is asked in the group, for his eyes only, and the
    # programme's town is offered as a button.
    await ask(tg, petr, group, "Где взять грант? #гранты")
    in_group = questions(tg, group)
    assert len(in_group) == 1 and in_group[0].visible_to(petr) and not in_group[0].visible_to(olga)
    assert "Стаханов" in in_group[0].buttons
    await tg.press(petr, in_group[0], "Стаханов")
    await tg.send(petr, petr, "/profile")
    await tg.press(petr, tg.last(petr), "Изменить город")
    await tg.press(petr, tg.last(petr), "✍️ Другой город")
    await tg.send(petr, petr, "город  стаханов")
    assert "Город: Стаханов" in tg.last(petr).content
    await tg.press(petr, tg.last(petr), "✍️ Другая организация")
    await tg.send(petr, petr, "АНО «Луч»")
    stored = await profiles(db)
    assert sorted(p.town or "" for p in stored.values()) == ["Стаханов", "Стаханов"]
    assert sorted(p.organisation or "" for p in stored.values()) == ["", "АНО «Луч»"]
    await tg.send(petr, petr, "/profile")
    assert "Стаханов" in tg.last(petr).content and "АНО «Луч»" in tg.last(petr).content


async def test_skipping_stops_the_question(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    anna = tg.user("Анна", started=True)
    group = await world.registered_group(members=(anna,))
    await tg.send(anna, anna, "/start")
    await ask(tg, anna, group, "Как зарегистрировать НКО? #юрист")
    await tg.press(anna, questions(tg, anna)[0], "Пропустить")
    assert "не буду спрашивать" in tg.last(anna).content
    mark = tg.mark()
    await ask(tg, anna, group, "Ещё вопрос про устав #юрист")
    assert not any(QUESTION in m.content for m in tg.bot_messages_since(mark))
    (profile,) = (await profiles(db)).values()
    assert profile.skipped and profile.town is None


async def test_people_is_scoped_filtered_and_audited(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    olga, petr = tg.user("Ольга", started=True), tg.user("Пётр", started=True)
    omich = tg.user("Омич", started=True)
    luhansk = await world.registered_group(members=(olga, petr))
    omsk = await world.registered_group("Омская группа", programme="Школа НКО Омска",
                                        members=(omich,))  # fmt: skip
    coordinator = await world.coordinator("Наталья")  # of the first programme only
    for person, group, text in (
        (olga, luhansk, "Как зарегистрировать НКО? #юрист"),
        (petr, luhansk, "Где взять грант? #гранты"),
        (omich, omsk, "Как написать устав? #юрист"),
    ):
        await tg.send(person, person, "/start")
        await ask(tg, person, group, text)
        await tg.press(person, questions(tg, person)[-1], "✍️ Другой город")
    await tg.send(olga, olga, "г. Стаханов")
    await tg.send(petr, petr, "Луганск")
    await tg.send(omich, omich, "Омск")

    await tg.send(coordinator, coordinator, "/people")
    listing = tg.last(coordinator).content
    assert "Ольга" in listing and "Пётр" in listing and "Омич" not in listing
    assert "Стаханов" in listing and "запросов: 1" in listing
    await tg.send(coordinator, coordinator, "/people город стаханов")
    listing = tg.last(coordinator).content
    assert "Ольга" in listing and "Пётр" not in listing
    await tg.send(coordinator, coordinator, "/people grants")
    listing = tg.last(coordinator).content
    assert "Пётр" in listing and "Ольга" not in listing
    await tg.send(coordinator, coordinator, "/people Омск")
    assert "Нет города" in tg.last(coordinator).content
    await tg.send(olga, olga, "/people")
    assert "для координаторов" in tg.last(olga).content

    async with db() as session:
        views = list(
            (
                await session.execute(
                    select(AuditEntry).where(AuditEntry.action == AuditAction.register_viewed)
                )
            ).scalars()
        )
    assert [v.details["people"] for v in views] == [2, 1, 1]
    await tg.send(world.admin, world.admin, "/audit")
    assert "реестр" in tg.last(world.admin).content
