"""Telegram's limits and failures: retried, respected, recorded, never a crash."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import App
from bot.config import Settings
from bot.delivery import Outbox
from models import DeliveryFailure, Person
from tests.conftest import start_app, stop_app
from tests.fakeapi.client import TelegramClient
from tests.fakeapi.server import FakeTelegram, Limits


async def test_a_429_is_retried_after_retry_after(
    app: App, tg: TelegramClient, server: FakeTelegram
) -> None:
    person = tg.user("Ольга", started=True)
    server.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    await tg.send(person, person, "/help")
    assert "Что можно сделать" in tg.last(person).text
    failed = [call for call in server.calls if call.method == "sendMessage" and not call.ok]
    assert len(failed) == 1


async def test_server_errors_are_retried_with_backoff(
    app: App, tg: TelegramClient, server: FakeTelegram
) -> None:
    person = tg.user("Ольга", started=True)
    server.fail_next("sendMessage", 502, "Bad Gateway", times=2)
    await tg.send(person, person, "/help")
    assert "Что можно сделать" in tg.last(person).text


async def test_undeliverable_messages_are_recorded(
    app: App, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    person = tg.user("Молчун", started=True)
    await tg.send(person, person, "/start")
    person.started = False  # the person blocked the bot after all
    async with db.begin() as session:
        outbox = Outbox(session, app.delivery)
        await outbox.send(person.id, "Привет", purpose="test")
        await outbox.send(-999, "Привет", purpose="test")
    await app.idle()
    async with db() as session:
        failures = list((await session.execute(select(DeliveryFailure))).scalars())
        stored = (
            await session.execute(select(Person).where(Person.telegram_id == person.id))
        ).scalar_one()
    assert [f.chat_telegram_id for f in failures] == [person.id, -999]
    assert "can't initiate conversation" in failures[0].error or "blocked" in failures[0].error
    assert "chat not found" in failures[1].error
    assert not stored.private_chat_open


async def test_send_limits_are_respected_not_discovered(
    settings: Settings, server: FakeTelegram, tg: TelegramClient
) -> None:
    server.limits = Limits(private_count=2, private_window=1.0)
    running, task = await start_app(
        settings.model_copy(update={"rate_private_per_second": 1.0}), server
    )
    try:
        person = tg.user("Ольга", started=True)
        async with running.session_factory.begin() as session:
            outbox = Outbox(session, running.delivery)
            for number in range(4):
                await outbox.send(person.id, f"Сообщение {number}", purpose="test")
        await running.idle()
    finally:
        await stop_app(running, task)
    refused = [call for call in server.calls if not call.ok and call.method == "sendMessage"]
    assert refused == []
    assert [m.text for m in tg.inbox(person)] == [f"Сообщение {n}" for n in range(4)]
