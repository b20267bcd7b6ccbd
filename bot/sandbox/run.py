"""``python -m bot --sandbox``: the real bot, the Bot API emulator and the page, in one process.

Nothing leaves the machine: the bot talks to the emulator on 127.0.0.1, the page is served on
127.0.0.1 only, and the database is a fresh SQLite file under ``data/sandbox/``.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web
from filelock import FileLock, Timeout
from pydantic import SecretStr

from bot.app import App, build_app, run_polling
from bot.config import Settings
from bot.sandbox.emulator.client import TelegramClient
from bot.sandbox.emulator.server import FakeTelegram
from bot.sandbox.web import Sandbox
from bot.sandbox.world import create_cast, seed

log = logging.getLogger(__name__)

SANDBOX_DIR = Path("data/sandbox")
BOT_USERNAME = "mentordesk_sandbox_bot"
HOST = "127.0.0.1"


class SandboxBusy(RuntimeError):
    """Another sandbox runs on the same directory."""


def fresh_database(directory: Path) -> str:
    """An empty SQLite file for this run: the emulator's Telegram starts empty too."""
    directory.mkdir(parents=True, exist_ok=True)
    database = directory / "mentordesk.sqlite3"
    for leftover in directory.glob("mentordesk.sqlite3*"):
        if not leftover.name.endswith(".lock"):
            leftover.unlink()
    return f"sqlite+aiosqlite:///{database.resolve()}"


def sandbox_settings(
    base: Settings, emulator: FakeTelegram, database_url: str, admin: int
) -> Settings:
    """The deployment's settings, pointed at the emulator: no token, webhook or Redis needed."""
    return base.model_copy(
        update={
            "bot_token": SecretStr(emulator.token),
            "telegram_api_base": emulator.base_url,
            "database_url": database_url,
            "admin_ids": [admin],
            "redis_url": None,
            "webhook_url": None,
            "webhook_secret": None,
            # One process: the emulator, the page and the bot share it.
            "sender": "builtin",
            "metrics_port": None,
        }
    )


async def _wait_polling(emulator: FakeTelegram, polling: asyncio.Task[None]) -> None:
    polls_before = emulator.count_calls("getUpdates")
    while emulator.count_calls("getUpdates") == polls_before:
        if polling.done():
            polling.result()
            raise RuntimeError("the bot stopped before it polled")
        await asyncio.sleep(0.02)


async def run_sandbox(
    base: Settings, *, port: int, empty: bool, directory: Path = SANDBOX_DIR
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    lock = FileLock(directory / "sandbox.lock", timeout=0)
    try:
        lock.acquire()
    except Timeout as busy:
        msg = f"Another sandbox is running on {directory}: stop it first."
        raise SandboxBusy(msg) from busy
    try:
        await _run(base, port=port, empty=empty, directory=directory)
    finally:
        lock.release()


async def _run(base: Settings, *, port: int, empty: bool, directory: Path) -> None:
    # Every call to the emulator, update and job run would be a line: keep the terminal for
    # the address and for what goes wrong.
    for noisy in ("aiohttp.access", "aiogram.event", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    emulator = FakeTelegram(token="1000:SANDBOX", bot_id=1000, bot_username=BOT_USERNAME)
    # As a bot with topics in private chats (BotFather): each taken request a topic of its
    # mentor's chat, shown on the page as a label on the topic's messages.
    emulator.private_topics = True
    await emulator.start()
    app: App | None = None
    page: web.AppRunner | None = None
    sandbox: Sandbox | None = None
    try:
        tg = TelegramClient(emulator)
        cast = create_cast(tg)
        settings = sandbox_settings(base, emulator, fresh_database(directory), cast.admin.id)
        app = build_app(settings)
        sandbox = Sandbox(
            tg=tg,
            cast=cast,
            i18n=app.i18n,
            session_factory=app.session_factory,
            default_language=settings.default_language,
            empty=empty,
        )
        # Bound first, so a port in use stops the sandbox before anything else starts.
        page = web.AppRunner(sandbox.application(), handle_signals=False)
        await page.setup()
        await web.TCPSite(page, HOST, port).start()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, app.stop)
        polling = asyncio.create_task(run_polling(app), name="sandbox-bot")
        await _wait_polling(emulator, polling)
        # Every step of the seeding waits until the bot has handled it and said its piece.
        emulator.settle = app.idle
        if not empty:
            await seed(tg, cast, datetime.now(UTC))
        address = f"http://{HOST}:{port}"
        print(  # noqa: T201
            f"MentorDesk sandbox: open {address} in a browser (Ctrl+C to stop).", flush=True
        )
        await polling
    finally:
        if sandbox is not None:
            await sandbox.close()
        if page is not None:
            await page.cleanup()
        if app is not None:
            app.stop()
            await app.close()
        await emulator.stop()
