"""The retention: with RETENTION set, the daily job erases the content of requests that ended
longer ago than it, the way /forget does, and leaves recent ones and every figure alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import App
from bot.config import Settings
from bot.domain.erasure import ERASED
from bot.jobs.retention import erase_expired
from bot.sandbox.emulator.client import TelegramClient
from bot.sandbox.emulator.models import FakeChat, FakeUser
from models import AuditAction, AuditEntry, Ticket, TicketEvent, TicketStatus
from tests.conftest import SettableClock, World
from tests.ticket_steps import ask, card, cards

START = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)


async def _resolved(
    tg: TelegramClient, author: FakeUser, group: FakeChat, mentor: FakeUser, text: str
) -> int:
    n = await ask(tg, author, group, text)
    await tg.press(mentor, card(tg, mentor, n), "Claim")
    await tg.send(mentor, mentor, f"/reply {n} Ответ про {text[:12]}")
    await tg.press(mentor, card(tg, mentor, n), "Resolve")
    return n


async def _erase(app: App, now: datetime) -> int:
    return await erase_expired(
        app.session_factory, app.engine, app.sender, app.i18n, app.settings, now
    )


async def test_old_closed_requests_lose_their_content_recent_ones_keep_it(
    world: World, tg: TelegramClient, app: App, clock: SettableClock,
    db: async_sessionmaker[AsyncSession],
) -> None:  # fmt: skip
    app.settings.retention = timedelta(days=365)
    author = tg.user("Olga", language="en", started=True)
    group = await world.registered_group(members=(author,))
    mentor = await world.mentor("Irina", "legal", language="en")
    clock.set(START)
    old = await _resolved(tg, author, group, mentor, "Старый запрос про гидропонику #legal")
    clock.set(START + timedelta(days=300))
    recent = await _resolved(tg, author, group, mentor, "Новый запрос про аквапонику #legal")

    # Not yet a year since the first ended: nothing to erase.
    assert await _erase(app, START + timedelta(days=300)) == 0
    assert await _erase(app, START + timedelta(days=400)) == 1
    assert await _erase(app, START + timedelta(days=400)) == 0  # once

    async with db() as session:
        first, second = await session.get(Ticket, old), await session.get(Ticket, recent)
        history = select(TicketEvent.text).where(TicketEvent.ticket_id == old)
        texts = list(await session.scalars(history))
        entries = list(await session.scalars(select(AuditEntry)))
    assert first is not None and second is not None
    assert first.text == ERASED and first.erased_at is not None
    assert first.status == TicketStatus.resolved and first.topic_id == second.topic_id
    assert texts and all(t is None for t in texts)
    assert second.text == "Новый запрос про аквапонику #legal" and second.erased_at is None
    erased = [e for e in entries if e.action == AuditAction.person_erased]
    assert [(e.ticket_id, e.details) for e in erased] == [(old, {"asked_by": "retention"})]
    assert all("гидропоник" not in m.content for m in cards(tg, mentor, old))
    assert any("аквапонику" in m.content for m in cards(tg, mentor, recent))


async def test_off_by_default_and_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings(_env_file=None, bot_token="1:x").retention is None
    monkeypatch.setenv("RETENTION", "3y")
    assert Settings(_env_file=None, bot_token="1:x").retention == timedelta(days=3 * 365)
    monkeypatch.setenv("RETENTION", "1095d")
    assert Settings(_env_file=None, bot_token="1:x").retention == timedelta(days=1095)
    monkeypatch.setenv("RETENTION", "")
    assert Settings(_env_file=None, bot_token="1:x").retention is None
    monkeypatch.setenv("RETENTION", "three years")
    with pytest.raises(ValueError, match="duration"):
        Settings(_env_file=None, bot_token="1:x")
