"""Fixtures: a fresh database, fake Telegram server and running bot for every test.

Tests run on an SQLite file by default. With ``TEST_DATABASE_URL`` (a PostgreSQL URL) each
test gets a database of its own created from it, and with ``TEST_REDIS_URL`` the bot keeps
its dialogues in Redis; CI runs the suite both ways. Either way a test's database starts as a
copy of one migrated once per run (the migrations' own tests start from an empty one).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from redis.asyncio import Redis
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import App, build_app, run_polling
from bot.config import Settings
from bot.db import create_engine, upgrade
from bot.sandbox.emulator.client import TelegramClient
from bot.sandbox.emulator.models import FakeChat, FakeUser
from bot.sandbox.emulator.server import FakeTelegram, Limits
from bot.time.clock import utc_now

PROGRAMME = "Школа социального предпринимательства на Донбассе"
TOKEN_IN_LINK = re.compile(r"\?start=([A-Za-z0-9_-]+)")


# The schema every test starts from is migrated once per run, then copied: on PostgreSQL a
# migration from nothing takes most of a second, which hundreds of tests would each pay.
_templates: dict[str, str] = {}


async def _migrate(url: str) -> None:
    engine = create_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


async def _postgres(template: str | None) -> AsyncIterator[str]:
    """A database of its own on ``TEST_DATABASE_URL``'s server, dropped after the test: a copy
    of the migrated template, or empty (``template=None``)."""
    url = make_url(os.environ["TEST_DATABASE_URL"])
    name = f"mentordesk_{uuid.uuid4().hex[:12]}"
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    # Fails loudly (not skips) when PostgreSQL is asked for and cannot be reached.
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(
            f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")
        )
    finally:
        await admin.close()
    yield url.set(database=name).render_as_string(hide_password=False)
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def _postgres_template() -> str:
    if "postgresql" not in _templates:
        name = f"mentordesk_template_{uuid.uuid4().hex[:12]}"
        url = make_url(os.environ["TEST_DATABASE_URL"])
        admin = await asyncpg.connect(
            url.set(drivername="postgresql").render_as_string(hide_password=False)
        )
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        await _migrate(url.set(database=name).render_as_string(hide_password=False))
        _templates["postgresql"] = name
    return _templates["postgresql"]


async def _sqlite_template(directory: Path) -> Path:
    if "sqlite" not in _templates:
        path = directory / "template.sqlite3"
        await _migrate(f"sqlite+aiosqlite:///{path}")
        _templates["sqlite"] = str(path)
    return Path(_templates["sqlite"])


def pytest_sessionfinish(session: pytest.Session) -> None:
    name = _templates.get("postgresql")
    if name is None:
        return
    url = make_url(os.environ["TEST_DATABASE_URL"]).set(drivername="postgresql")

    async def drop() -> None:
        admin = await asyncpg.connect(url.render_as_string(hide_password=False))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

    asyncio.run(drop())


@pytest.fixture
async def database_url(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """A database of the test's own with the schema at the newest migration."""
    if not os.environ.get("TEST_DATABASE_URL"):
        path = tmp_path / "mentordesk.sqlite3"
        shutil.copyfile(await _sqlite_template(tmp_path_factory.getbasetemp()), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    async for url in _postgres(await _postgres_template()):
        yield url


@pytest.fixture
async def empty_database_url(tmp_path: Path) -> AsyncIterator[str]:
    """A database of the test's own with nothing in it: for the migrations' own tests."""
    if not os.environ.get("TEST_DATABASE_URL"):
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    async for url in _postgres(None):
        yield url


@pytest.fixture
async def redis_url() -> AsyncIterator[str | None]:
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        yield None
        return
    client = Redis.from_url(url)
    try:
        await client.flushdb()
        yield url
        await client.flushdb()
    finally:
        await client.aclose()


@pytest.fixture
async def server() -> AsyncIterator[FakeTelegram]:
    # The bot under test has no send budget of its own (see `settings`), so Telegram's flood
    # limits are off here; tests of the limits set `server.limits`.
    fake = FakeTelegram(limits=Limits.off())
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()
        await _nothing_left_running()


async def _nothing_left_running() -> None:
    """After the bot and the fake Telegram have stopped, no task of theirs may still run (a
    training of the topic model, a send): one left fails the test with where it waits. It is
    cancelled first, and one that will not stop is let go of, or closing the test's event
    loop would wait for it for ever."""
    current = asyncio.current_task()
    left = [task for task in asyncio.all_tasks() if task is not current and not task.done()]
    if not left:
        return
    where = "\n".join(
        f"{task.get_name()}: "
        + " <- ".join(f"{f.f_code.co_name} ({f.f_code.co_filename}:{f.f_lineno})"
                      for f in task.get_stack())
        for task in left
    )  # fmt: skip
    for task in left:
        task.cancel()
    _done, stuck = await asyncio.wait(left, timeout=5)
    unregister = getattr(asyncio.tasks, "_unregister_task", None)
    for task in stuck:
        if unregister is not None:
            unregister(task)
    pytest.fail(f"tasks still running after the test ({len(stuck)} would not stop):\n{where}")


@pytest.fixture
def tg(server: FakeTelegram) -> TelegramClient:
    return TelegramClient(server)


@pytest.fixture
def admin(tg: TelegramClient) -> FakeUser:
    return tg.user("Админ", username="md_admin", language="ru", started=True)


@pytest.fixture
def settings(
    server: FakeTelegram, admin: FakeUser, database_url: str, redis_url: str | None
) -> Settings:
    """Settings of the bot under test; override with ``settings.model_copy(update=...)``."""
    return Settings(
        _env_file=None,
        bot_token=server.token,
        telegram_api_base=server.base_url,
        database_url=database_url,
        redis_url=redis_url,
        admin_ids=[admin.id],
        default_language="ru",
        default_timezone="Europe/Moscow",
        rate_global_per_second=1000,
        rate_private_per_second=1000,
        rate_group_per_minute=60000,
        # The suite's programmes reply for the whole group, as the bot did before quiet
        # groups; tests of a quiet group ask for it (tests/test_quiet_group.py).
        group_replies="visible",
        # Tests file many requests as one person; the cap has tests of its own.
        max_open_requests=1000,
        requests_per_hour=10000,
        # The town question after a first request; its tests ask for it
        # (tests/test_people_register.py, tests/test_report.py).
        ask_profile=False,
        # The suite files its requests as people who consented long ago; the consent step has
        # tests of its own (tests/test_consent.py).
        ask_consent=False,
    )


class SettableClock:
    """The bot's clock in a test: the real time until the test sets a moment of its own."""

    def __init__(self) -> None:
        self.moment: datetime | None = None

    def __call__(self) -> datetime:
        return self.moment or datetime.now(UTC)

    def set(self, moment: datetime) -> None:
        assert moment.tzinfo is not None
        self.moment = moment


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock()


async def start_app(
    settings: Settings, server: FakeTelegram, clock: SettableClock | None = None
) -> tuple[App, asyncio.Task[None]]:
    """Build the real App and let it poll the fake server until it is ready for updates.

    From then on every update a test delivers waits until this bot has handled it and sent
    what it said (``server.settle``), so a test reads the answers right after the call.
    """
    app = build_app(settings, clock=clock or utc_now)
    polls_before = server.count_calls("getUpdates")
    task = asyncio.create_task(run_polling(app))
    for _ in range(600):
        if task.done():
            task.result()
            raise AssertionError("the bot stopped before polling")
        if server.count_calls("getUpdates") > polls_before:
            server.settle = app.idle
            if app.sends:  # it sends, or knows that another process does
                await asyncio.wait_for(app.sender.decided.wait(), timeout=6)
            await app.idle()
            return app, task
        await asyncio.sleep(0.01)
    raise AssertionError("the bot did not start polling within 6 s")


async def stop_app(app: App, task: asyncio.Task[None]) -> None:
    app.stop()
    await asyncio.wait_for(task, timeout=15)


@pytest.fixture
async def app(settings: Settings, server: FakeTelegram, clock: SettableClock) -> AsyncIterator[App]:
    running, task = await start_app(settings, server, clock)
    try:
        yield running
    finally:
        await stop_app(running, task)


@pytest.fixture
def db(app: App) -> async_sessionmaker[AsyncSession]:
    return app.session_factory


@dataclass
class World:
    """Steps many tests share, done the way people do them: through Telegram."""

    tg: TelegramClient
    app: App
    admin: FakeUser
    clock: SettableClock = field(default_factory=SettableClock)  # the app's, from the fixture

    async def registered_group(
        self,
        title: str = "Луганская группа",
        *,
        programme: str = PROGRAMME,
        members: tuple[FakeUser, ...] = (),
    ) -> FakeChat:
        group = self.tg.group(title, members=(self.admin, *members), admins=(self.admin,))
        await self.tg.add_bot_to(group, by=self.admin)
        await self.tg.send(self.admin, group, f"/register {programme}")
        assert "зарегистрирована" in self.tg.last(group).text, self.tg.last(group).text
        return group

    async def invitation_token(self, inviter: FakeUser, command: str) -> str:
        await self.tg.send(inviter, inviter, command)
        reply = self.tg.last(inviter)
        if reply.buttons and "?start=" not in reply.text:
            await self.tg.press(inviter, reply, reply.buttons[0])
            reply = self.tg.last(inviter)
        match = TOKEN_IN_LINK.search(reply.text)
        assert match, reply.text
        return match.group(1)

    async def mentor(
        self, name: str, topics: str = "legal", *, language: str = "ru", started: bool = True
    ) -> FakeUser:
        """A mentor of the programme for the given topics (space-separated codes)."""
        person = self.tg.user(name, language=language)
        token = await self.invitation_token(self.admin, f"/invite mentor {topics}")
        await self.tg.start(person, token)
        if not started:
            # The person accepted, then blocked the bot: Telegram now refuses to reach them.
            person.started = False
        return person

    async def coordinator(self, name: str, *, language: str = "ru") -> FakeUser:
        person = self.tg.user(name, language=language)
        token = await self.invitation_token(self.admin, "/invite coordinator")
        await self.tg.start(person, token)
        return person


@pytest.fixture
def world(tg: TelegramClient, app: App, admin: FakeUser, clock: SettableClock) -> World:
    return World(tg=tg, app=app, admin=admin, clock=clock)
