"""Telegram lets one process long-poll a bot: a second ``python -m bot`` is refused, clearly,
and the first one goes on serving."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from bot.sandbox.emulator.models import FakeUser
from bot.sandbox.emulator.server import FakeTelegram
from tests.burst import ROOT, BotProcess, bot_env, eventually, post


async def test_a_second_poller_is_refused_and_the_first_keeps_working(
    server: FakeTelegram, database_url: str, tmp_path: Path
) -> None:
    env = bot_env(database_url, server)
    first = BotProcess(env, tmp_path)
    await first.start(server)
    try:
        commands_published = server.count_calls("setMyCommands")
        second = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot",
            cwd=ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _out, err = await asyncio.wait_for(second.communicate(), 60)
        message = err.decode()
        assert second.returncode == 3, message
        assert "Another MentorDesk process already takes this bot's updates" in message
        assert "one poller per bot token" in message
        assert "Traceback" not in message
        # It stopped before doing anything a running bot does.
        assert server.count_calls("setMyCommands") == commands_published

        person = server.add_user(FakeUser(id=4_000_001, first_name="Анна", started=True))
        person_chat = server.private_chat(person)
        post(server, person, person_chat, "/help")
        await eventually(
            lambda: any(m.by_bot and "/ask" in m.content for m in server.history[person.id]),
            30,
            "the first bot answered /help after the second was refused",
        )
        assert first.process is not None and first.process.returncode is None
    finally:
        assert await first.stop() == 0
