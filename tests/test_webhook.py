"""Webhook mode: Telegram's secret header is checked before anything is handled."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import App, build_app, set_webhook, start, webhook_application
from bot.config import Settings
from models import ProcessedUpdate
from tests.fakeapi.client import TelegramClient
from tests.fakeapi.server import FakeTelegram

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
    await start(app)
    await set_webhook(app)
    # Handled before answering, so the fake server knows when an update is done.
    runner = web.AppRunner(webhook_application(app, handle_in_background=False))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield app
    finally:
        await runner.cleanup()
        await app.close()


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
        assert (await session.execute(select(ProcessedUpdate))).first() is None
