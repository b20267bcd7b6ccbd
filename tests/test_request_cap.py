"""A person's requests are capped: a burst from one person reaches mentors only up to the cap,
the rest are not stored, and the person is told once."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.sandbox.emulator.client import TelegramClient
from tests.conftest import World
from tests.ticket_steps import all_tickets, cards


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"max_open_requests": 5, "requests_per_hour": 10})


async def test_a_burst_of_twelve_reaches_mentors_only_up_to_the_cap(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    author = tg.user("Ольга")
    group = await world.registered_group(members=(author,))
    lawyer = await world.mentor("Ирина", "legal")
    before = len(tg.bot_messages(group))
    for n in range(12):
        await tg.send(author, group, f"/ask Вопрос номер {n + 1} про устав АНО #юрист")
    stored = await all_tickets(db)
    assert len(stored) == 5
    assert sum(len(cards(tg, lawyer, t.id)) for t in stored) == 5
    told = [m for m in tg.bot_messages(group)[before:] if "/my" in m.content]
    assert len(told) == 1  # once for the whole burst
    assert "5" in told[0].content


async def test_the_hourly_rate_is_capped_too(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    world.app.settings.max_open_requests = 100
    world.app.settings.requests_per_hour = 3
    author = tg.user("Ольга")
    group = await world.registered_group(members=(author,))
    await world.mentor("Ирина", "legal")
    before = len(tg.bot_messages(group))
    for n in range(5):
        await tg.send(author, group, f"/ask Вопрос {n + 1} про гранты #юрист")
    assert len(await all_tickets(db)) == 3
    replies = tg.bot_messages(group)[before:]
    assert len([m for m in replies if "3" in m.content and "/my" not in m.content]) >= 1
    # Another person is not affected by the first one's limit.
    other = tg.user("Пётр")
    group.members[other.id] = "member"
    await tg.send(other, group, "/ask Мой собственный вопрос про устав #юрист")
    assert len(await all_tickets(db)) == 4


def test_bad_caps_are_refused_by_the_settings() -> None:
    with pytest.raises(ValueError, match="max_open_requests"):
        Settings(_env_file=None, max_open_requests=0)
    with pytest.raises(ValueError, match="requests_per_hour"):
        Settings(_env_file=None, requests_per_hour=-1)
