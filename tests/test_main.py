"""``python -m bot`` as a coordinator runs it: without a token, and against a Bot API server."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from bot.sandbox.emulator.server import FakeTelegram

# Nothing here touches the suite's database: the PostgreSQL run leaves it out.
pytestmark = pytest.mark.no_database


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "SYSTEMROOT", "PYTHONPATH")
    env = {key: value for key, value in os.environ.items() if key in keep}
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"
    env.update(extra)
    return env


async def test_without_a_token_it_says_how_to_get_one(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot",
        cwd=tmp_path, env=_env(tmp_path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 2
    message = stderr.decode()
    assert "BOT_TOKEN" in message and "@BotFather" in message
    assert len(message.strip().splitlines()) == 1


async def test_with_a_token_it_migrates_and_polls(tmp_path: Path, server: FakeTelegram) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot",
        cwd=tmp_path,
        env=_env(tmp_path, BOT_TOKEN=server.token, TELEGRAM_API_BASE=server.base_url),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        for _ in range(600):
            if server.count_calls("getUpdates") or process.returncode is not None:
                break
            await asyncio.sleep(0.05)
        assert server.count_calls("getUpdates") > 0, "the bot never polled"
        assert server.count_calls("setMyCommands") >= 2
        assert (tmp_path / "bot.sqlite3").exists()
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, stderr.decode()[-2000:]
