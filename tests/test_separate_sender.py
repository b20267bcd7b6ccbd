"""A sender of its own: ``python -m bot --sender`` sends what bot processes run with
``SENDER=separate`` write to the outbox (PostgreSQL). Real processes, the fake Telegram with
its limits.

The processes share PostgreSQL, so the test runs in the suite's PostgreSQL pass (``.ci/run``
sets ``TEST_DATABASE_URL``); there it fails, never skips, when PostgreSQL cannot be reached.
What is refused on SQLite is checked in every pass.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.sandbox.emulator.server import FakeTelegram
from tests.balancer import free_port
from tests.burst import ROOT, BotProcess, Tally, bot_env, eventually, post_requests, seed
from tests.test_pipeline_crash import TELEGRAM

BURST = 20


async def _health(port: int) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/healthz") as response,
    ):
        return response.status, dict(await response.json())


@pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL"),
    reason="a sender of its own needs PostgreSQL: this runs in the suite's PostgreSQL pass",
)
async def test_a_sender_of_its_own_sends_what_the_bot_writes(
    server: FakeTelegram, database_url: str, tmp_path: Path
) -> None:
    server.limits = TELEGRAM
    cast = await seed(database_url, server, groups=10, mentors=2)
    bot_port, sender_port = free_port(), free_port()
    bot = BotProcess(
        bot_env(database_url, server, SENDER="separate", METRICS_PORT=str(bot_port)), tmp_path
    )
    sender_dir = tmp_path / "sender"
    sender_dir.mkdir()
    sender = BotProcess(bot_env(database_url, server, METRICS_PORT=str(sender_port)), sender_dir)
    sender.command = ["-m", "bot", "--sender"]
    await bot.start(server)
    try:
        # Nobody sends yet: the bot says so, and what it writes waits.
        status, health = await _health(bot_port)
        assert (status, health["sender"]) == (503, "nobody"), health
        tally = Tally(server, post_requests(server, cast, BURST))
        await eventually(
            lambda: server.count_calls("getUpdates") > 2, 30, "the bot takes the requests"
        )
        await asyncio.sleep(1.0)
        assert tally.acknowledged() == 0, "the bot sent although SENDER=separate"

        await sender.start(server, ready_url=f"http://127.0.0.1:{sender_port}/healthz")

        def finished() -> bool:
            if tally.acknowledged() < BURST:
                return False
            numbers = set(tally.numbers().values())
            return all(numbers <= tally.visible_to(mentor) for mentor in cast.mentors)

        await eventually(finished, 60, "every request acknowledged and offered")
        status, health = await _health(bot_port)
        assert (status, health["sender"]) == (200, "elsewhere"), health
        status, health = await _health(sender_port)
        assert (status, health["sender"]) == (200, "sending"), health
        assert tally.duplicates() == 0
    finally:
        await sender.stop()
        await bot.stop()


@pytest.mark.no_database
async def test_a_sender_of_its_own_is_refused_on_sqlite(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key in ("PATH", "HOME", "LANG")}
    env.update(
        PYTHONPATH=str(ROOT),
        BOT_TOKEN="42:TEST",
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}",
    )
    for command, extra, said in (
        (["--sender"], {}, "--sender needs PostgreSQL"),
        ([], {"SENDER": "separate"}, "SENDER=separate needs PostgreSQL"),
    ):
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", *command,
            cwd=tmp_path, env=env | extra,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
        assert process.returncode == 2
        assert said in stderr.decode()
