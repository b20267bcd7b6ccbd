"""Webhook mode: Telegram's secret header is checked before anything is handled."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import App, build_app, run_webhook
from bot.config import Settings
from bot.sandbox.emulator.client import TelegramClient
from bot.sandbox.emulator.server import FakeTelegram
from models import InboxUpdate

SECRET = "s3cret-token_for-tests"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def webhook_app(settings: Settings, server: FakeTelegram) -> AsyncIterator[App]:
    port = _free_port()
    configured = settings.model_copy(
        update={
            "webhook_url": f"http://127.0.0.1:{port}/telegram/hook",
            "webhook_secret": SecretStr(SECRET),
            "webhook_port": port,
        }
    )
    app = build_app(configured)
    task = asyncio.create_task(run_webhook(app))
    for _ in range(600):
        if server.webhook_url or task.done():
            break
        await asyncio.sleep(0.01)
    assert server.webhook_url, "the bot did not set its webhook"
    server.settle = app.idle
    try:
        yield app
    finally:
        app.stop()
        await asyncio.wait_for(task, timeout=15)


async def test_updates_arrive_by_webhook(
    webhook_app: App, tg: TelegramClient, server: FakeTelegram
) -> None:
    person = tg.user("John", language="en")
    await tg.send(person, person, "/help")
    assert "What you can do here" in tg.last(person).text
    assert server.webhook_statuses and set(server.webhook_statuses) == {200}


async def test_a_wrong_secret_gets_401_and_nothing_is_handled(
    webhook_app: App, server: FakeTelegram
) -> None:
    update = {
        "update_id": 777,
        "message": {
            "message_id": 1,
            "date": 1700000000,
            "chat": {"id": 5001, "type": "private", "first_name": "Eve"},
            "from": {"id": 5001, "is_bot": False, "first_name": "Eve"},
            "text": "/help",
            "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
        },
    }
    url = webhook_app.settings.webhook_url or ""
    sent_before = server.count_calls("sendMessage")
    async with aiohttp.ClientSession() as http:
        for headers in ({"X-Telegram-Bot-Api-Secret-Token": "wrong"}, {}):
            async with http.post(url, json=update, headers=headers) as response:
                assert response.status == 401
    assert server.count_calls("sendMessage") == sent_before
    db: async_sessionmaker[AsyncSession] = webhook_app.session_factory
    async with db() as session:
        assert (await session.execute(select(InboxUpdate))).first() is None


async def test_an_update_is_stored_before_it_is_answered_200(
    webhook_app: App, tg: TelegramClient, server: FakeTelegram
) -> None:
    """Telegram forgets an update once the webhook answers 200: by then it is in the inbox."""
    person = tg.user("John", language="en", started=True)
    update = {
        "update_id": 4242,
        "message": {
            "message_id": 1,
            "date": 1700000000,
            "chat": {"id": person.id, "type": "private", "first_name": "John"},
            "from": {"id": person.id, "is_bot": False, "first_name": "John", "language_code": "en"},
            "text": "/help",
            "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
        },
    }
    db: async_sessionmaker[AsyncSession] = webhook_app.session_factory
    async with aiohttp.ClientSession() as http:
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        async with http.post(
            webhook_app.settings.webhook_url or "", json=update, headers=headers
        ) as response:
            assert response.status == 200
            async with db() as session:
                stored = await session.get(InboxUpdate, 4242)
            assert stored is not None and '"/help"' in stored.payload
        # Telegram sends it again (the 200 got lost): handled once all the same.
        async with http.post(
            webhook_app.settings.webhook_url or "", json=update, headers=headers
        ) as response:
            assert response.status == 200
    await webhook_app.idle()
    assert len([m for m in tg.inbox(person) if "What you can do here" in m.text]) == 1


async def test_health_and_metrics_are_served_beside_the_webhook(
    webhook_app: App, tg: TelegramClient
) -> None:
    person = tg.user("John", language="en")
    await tg.send(person, person, "/help")
    base = f"http://127.0.0.1:{webhook_app.settings.webhook_port}"
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/healthz") as response:
            assert response.status == 200
            health = await response.json()
        async with http.get(f"{base}/metrics") as response:
            assert response.status == 200
            metrics = await response.text()
    assert health["status"] == "ok"
    assert health["outbox_backlog"] == 0
    assert "mentordesk_updates_handled_total 1.0" in metrics
