"""Faults, as they happen, with ``python -m bot`` as a real process and the fake Telegram
enforcing Telegram's limits (30/s for the bot, 1/s per private chat, 20 a minute per group):

- Telegram unreachable for half a minute in the middle of a burst (every call answered 502,
  or its connection reset): afterwards every request is acknowledged once, every ticket is in
  front of its mentors, nobody is told falsely that a ticket reached no mentor, no 429; and
  ``/healthz`` says Telegram is unreachable meanwhile, without calling the bot unhealthy;
- an update aiogram cannot read (aiogram issue #1840) among others, by polling and by webhook:
  the others are handled, it is kept and set aside, and the log names it without its text;
- a webhook body that is not UTF-8: 400, nothing stored;
- PostgreSQL restarted under a burst, on a cluster of the test's own: ``/healthz`` says 503
  while it is down, and nothing is lost or sent twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
import asyncpg
import pytest
from sqlalchemy import select

from bot.db import create_engine, create_session_factory
from bot.sandbox.emulator.models import FakeUser, OutageMode
from bot.sandbox.emulator.server import FakeTelegram
from models import InboxUpdate, OutboxMessage, OutboxStatus
from tests.balancer import free_port
from tests.burst import (
    BotProcess,
    Cast,
    Tally,
    bot_env,
    eventually,
    post_requests,
    refused_for_flood,
    seed,
    unassigned_alerts,
)
from tests.test_pipeline_crash import TELEGRAM, _count

# Telegram's update ids are large numbers: the set-aside update's id is then one that no other
# line of the bot's log holds by chance.
FIRST_UPDATE_ID = 731_800_001
OUTAGE_SECONDS = 30.0
SECRET = "faults-test-secret"
HOOK = "/telegram/hook"
# Words of the unreadable update (its own text, and the text of the message it replies to)
# that must not reach the bot's log.
UNREADABLE_TEXT = "пенсия бабушки ZQX1840REPLY"
FORWARDED_TEXT = "пересланное письмо ZQX1840FORWARD"


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram(limits=TELEGRAM, first_update_id=FIRST_UPDATE_ID)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


# --- what the bot says about itself ------------------------------------------------------------


@dataclass
class Sample:
    """One answer of ``/healthz``."""

    at: float  # time.monotonic() when it was asked
    status: int  # 0: no answer
    body: dict[str, Any]


@dataclass
class HealthWatch:
    """Asks ``/healthz`` every ``every`` seconds, each time without waiting for the answers
    before (a slow answer hides no moment), and keeps every answer."""

    port: int
    every: float
    samples: list[Sample] = field(default_factory=list)
    _asks: set[asyncio.Task[None]] = field(default_factory=set)
    _task: asyncio.Task[None] | None = None
    _http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> HealthWatch:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
        self._task = asyncio.create_task(self._watch())
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        for task in [self._task, *self._asks]:
            if task is not None:
                task.cancel()
        await asyncio.gather(*[t for t in [self._task, *self._asks] if t], return_exceptions=True)
        if self._http is not None:
            await self._http.close()

    async def _watch(self) -> None:
        while True:
            ask = asyncio.create_task(self._ask(time.monotonic()))
            self._asks.add(ask)
            ask.add_done_callback(self._asks.discard)
            await asyncio.sleep(self.every)

    async def _ask(self, at: float) -> None:
        assert self._http is not None
        url = f"http://127.0.0.1:{self.port}/healthz"
        try:
            async with self._http.get(url) as response:
                body = await response.json(content_type=None)
                status = response.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            self.samples.append(Sample(at, 0, {"error": f"{type(error).__name__}: {error}"}))
            return
        self.samples.append(Sample(at, status, body if isinstance(body, dict) else {}))

    def between(self, start: float, end: float = float("inf")) -> list[Sample]:
        """The answers to the questions asked between ``start`` and ``end``, in that order."""
        return sorted((s for s in self.samples if start <= s.at <= end), key=lambda s: s.at)


def _shown(samples: list[Sample]) -> str:
    return "; ".join(f"{s.status} {json.dumps(s.body, ensure_ascii=False)}" for s in samples[-8:])


# --- waiting for the work, and saying what is missing -----------------------------------------


async def _outbox(database_url: str) -> tuple[Counter[str], list[str]]:
    """The outbox's rows by status, and the errors of those given up."""
    engine = create_engine(database_url)
    try:
        async with create_session_factory(engine)() as session:
            rows = (await session.execute(select(OutboxMessage.status, OutboxMessage.error))).all()
    finally:
        await engine.dispose()
    statuses = Counter(str(status) for status, _ in rows)
    failed = [str(error) for status, error in rows if status == OutboxStatus.failed]
    return statuses, failed


async def wait_delivered(
    tally: Tally,
    cast: Cast,
    database_url: str,
    bot: BotProcess,
    timeout: float,
    what: str,
    health: HealthWatch | None = None,
) -> None:
    """Wait until every request is acknowledged and every ticket is in front of every mentor;
    fail at once if the bot gives a message up for good, and else say what is missing."""
    deadline = time.monotonic() + timeout
    checked = 0.0
    while not tally.delivered(cast.mentors):
        now = time.monotonic()
        if now - checked > 2:
            checked = now
            statuses: Counter[str] = Counter()
            failed: list[str] = []
            with contextlib.suppress(Exception):  # the database may be down: that is the test
                statuses, failed = await _outbox(database_url)
            if failed:
                shown = Counter(re.sub(r"\d+", "N", error)[:160] for error in failed)
                msg = (
                    f"{what}: the bot gave up on {len(failed)} messages "
                    f"({tally.acknowledged()} of {len(tally.requests)} requests "
                    f"acknowledged; outbox {dict(statuses)}): {dict(shown)}"
                )
                raise AssertionError(msg)
        if now > deadline:
            missing = await _missing(tally, cast, database_url, bot, what)
            last = f"; /healthz said {_shown(health.samples[-1:])}" if health else ""
            raise AssertionError(f"not within {timeout} s: {missing}{last}")
        await asyncio.sleep(0.2)


async def _missing(tally: Tally, cast: Cast, database_url: str, bot: BotProcess, what: str) -> str:
    numbers = set(tally.numbers().values())
    unseen = {m.first_name: len(numbers - tally.visible_to(m)) for m in cast.mentors}
    try:
        statuses, _ = await _outbox(database_url)
        outbox = str(dict(statuses))
    except Exception as error:  # noqa: BLE001 - said, not raised: the database may be down
        outbox = f"unreadable ({type(error).__name__})"
    # The log's last lines, but for /healthz's own, which a test asking it often would fill.
    lines = bot.log.read_text(errors="replace").splitlines()
    log = "\n".join(line for line in lines if "bot.ops.http: health:" not in line)[-3000:]
    return (
        f"{what}: {tally.acknowledged()} of {len(tally.requests)} requests acknowledged; "
        f"tickets unseen by mentors {unseen}; outbox {outbox}; bot log:\n{log}"
    )


def _handled_once(tally: Tally, cast: Cast) -> None:
    """Each request acknowledged once, as a ticket of its own in front of every mentor."""
    counts = Counter(len(found) for found in tally.acks().values())
    assert set(counts) == {1}, f"acknowledgements per request: {dict(counts)} (want 1 each)"
    assert len(set(tally.numbers().values())) == len(tally.requests)
    assert tally.delivered(cast.mentors)


# --- 1. Telegram unreachable -------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["502", "reset"])
async def test_a_burst_outlives_telegram_unreachable_for_half_a_minute(
    mode: OutageMode, telegram: FakeTelegram, database_url: str, tmp_path: Path
) -> None:
    cast = await seed(database_url, telegram, groups=20, mentors=2)
    admin = telegram.add_user(FakeUser(id=100_001, first_name="Админ", started=True))
    port = free_port()
    env = bot_env(database_url, telegram, ADMIN_IDS=str(admin.id), METRICS_PORT=str(port))
    bot = BotProcess(env, tmp_path)
    await bot.start(telegram)
    try:
        async with HealthWatch(port, every=0.5) as health:
            tally = Tally(telegram, post_requests(telegram, cast, 60))
            await eventually(lambda: tally.acknowledged() >= 10, 60, "10 acknowledgements")
            telegram.outage(mode)
            down_at = time.monotonic()
            await asyncio.sleep(OUTAGE_SECONDS)
            telegram.recover()
            up_at = time.monotonic()
            await wait_delivered(
                tally,
                cast,
                database_url,
                bot,
                90,
                f"the burst delivered after a {mode} outage",
                health,
            )

            def drained() -> bool:
                answers = health.between(up_at)
                return bool(answers) and answers[-1].body.get("outbox_backlog") == 0

            await eventually(drained, 30, "/healthz showing the outbox empty")
            await asyncio.sleep(2)  # time for a late alert or a duplicate to show
    finally:
        telegram.recover()
        await bot.stop()

    _handled_once(tally, cast)
    false_alerts = unassigned_alerts(telegram, [cast.coordinator, admin])
    assert false_alerts == [], f"{len(false_alerts)} false alerts, such as {false_alerts[0]!r}"
    assert refused_for_flood(telegram, since=up_at) == [], "429s after Telegram came back"
    assert tally.duplicates() == 0
    assert telegram.refusals, "the bot made no call while Telegram was unreachable"

    during = health.between(down_at, up_at)
    unhealthy = [s for s in during if s.status != 200]
    assert during and not unhealthy, f"/healthz while Telegram was down: {_shown(unhealthy)}"
    unreachable = [s for s in during if s.body.get("telegram_reachable") is False]
    assert unreachable, f"/healthz never said Telegram was unreachable: {_shown(during)}"
    since = unreachable[-1].body.get("telegram_unreachable_since")
    assert isinstance(since, str), unreachable[-1].body
    moment = datetime.fromisoformat(since.replace("Z", "+00:00"))
    assert moment.utcoffset() == timedelta(0), since
    assert abs((datetime.now(UTC) - moment).total_seconds() - (time.monotonic() - down_at)) < 20
    after = health.between(up_at)
    assert after[-1].status == 200, _shown(after)
    assert after[-1].body.get("telegram_reachable") is True, _shown(after)
    assert after[-1].body.get("telegram_unreachable_since") is None, _shown(after)


# --- 2. An update aiogram cannot read ----------------------------------------------------------


def _webhook_bot(
    database_url: str, telegram: FakeTelegram, workdir: Path, **settings: str
) -> tuple[BotProcess, int]:
    port = free_port()
    env = bot_env(
        database_url,
        telegram,
        WEBHOOK_URL=f"http://127.0.0.1:{port}{HOOK}",
        WEBHOOK_SECRET=SECRET,
        WEBHOOK_PORT=str(port),
        **settings,
    )
    return BotProcess(env, workdir), port


async def _start_webhook_bot(bot: BotProcess, port: int, telegram: FakeTelegram) -> None:
    await bot.start(telegram, ready_url=f"http://127.0.0.1:{port}/healthz")
    await eventually(lambda: telegram.webhook_url is not None, 30, "the webhook set")


async def _inbox_row(database_url: str, update_id: int) -> InboxUpdate | None:
    engine = create_engine(database_url)
    try:
        async with create_session_factory(engine)() as session:
            return await session.get(InboxUpdate, update_id)
    finally:
        await engine.dispose()


@pytest.mark.parametrize("way", ["polling", "webhook"])
async def test_an_update_aiogram_cannot_read_is_set_aside_and_the_rest_handled(
    way: str, telegram: FakeTelegram, database_url: str, tmp_path: Path
) -> None:
    cast = await seed(database_url, telegram, groups=5, mentors=1)
    if way == "webhook":
        bot, port = _webhook_bot(database_url, telegram, tmp_path, LOG_LEVEL="INFO")
        await _start_webhook_bot(bot, port, telegram)
    else:
        bot = BotProcess(bot_env(database_url, telegram, LOG_LEVEL="INFO"), tmp_path)
        await bot.start(telegram)
    try:
        # One batch (by polling): nothing is awaited between these.
        before = post_requests(telegram, cast, 5)
        unreadable = telegram.enqueue(
            telegram.reply_to_hidden_forward(
                cast.groups[0],
                cast.activists[0],
                f"@{telegram.bot.username} {UNREADABLE_TEXT}",
                forwarded_text=FORWARDED_TEXT,
            )
        )
        after = post_requests(telegram, cast, 5, start=5)
        tally = Tally(telegram, before + after)
        await wait_delivered(
            tally, cast, database_url, bot, 60, f"the readable updates handled ({way})"
        )
        await eventually(unreadable.done.is_set, 30, "the unreadable update taken from Telegram")
        row = await _inbox_row(database_url, unreadable.update_id)
    finally:
        await bot.stop()

    if way == "polling":
        batches = [
            [u["update_id"] for u in c.outcome]
            for c in telegram.calls
            if c.method == "getUpdates" and c.ok and c.outcome
        ]
        assert any(unreadable.update_id in b and len(b) > 1 for b in batches), batches
    else:
        assert unreadable.webhook_status == 200
    _handled_once(tally, cast)
    assert row is not None, "the unreadable update was not kept in the inbox"
    assert row.handled_at is not None, "the unreadable update was not set aside"
    assert row.error and re.search(r"read|pars|valid|decod", row.error, re.IGNORECASE), row.error
    assert json.loads(row.payload) == unreadable.update
    log = bot.log.read_text(errors="replace")
    assert re.search(rf"\b{unreadable.update_id}\b", log), "the log does not name the update"
    for text in (UNREADABLE_TEXT, FORWARDED_TEXT):
        for word in text.split():
            escaped = json.dumps(word)[1:-1]
            assert word not in log and escaped not in log, f"{word!r} is in the bot's log"


# --- 3. A webhook body that is not UTF-8 ---------------------------------------------------------


async def test_a_webhook_body_that_is_not_utf8_gets_400_and_nothing_is_stored(
    telegram: FakeTelegram, database_url: str, tmp_path: Path
) -> None:
    cast = await seed(database_url, telegram, groups=1, mentors=1)
    bot, port = _webhook_bot(database_url, telegram, tmp_path)
    await _start_webhook_bot(bot, port, telegram)
    group, activist = cast.groups[0], cast.activists[0]
    # An update as Telegram would send it, but for bytes in its text that are not UTF-8.
    body = (
        f'{{"update_id": {FIRST_UPDATE_ID + 500}, "message": {{"message_id": 77, '
        f'"date": {int(time.time())}, "chat": {{"id": {group.id}, "type": "group", '
        f'"title": "Группа"}}, "from": {{"id": {activist.id}, "is_bot": false, '
        f'"first_name": "Активист"}}, "text": "/ask вопрос #юрист '
    ).encode() + b'\xff\xfe\xc3("}}'
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"http://127.0.0.1:{port}{HOOK}", data=body, headers=headers) as response,
        ):
            status = response.status
        stored = await _count(database_url, InboxUpdate)
        # The bot goes on serving.
        tally = Tally(telegram, post_requests(telegram, cast, 1))
        await eventually(lambda: tally.acknowledged() == 1, 30, "the next request acknowledged")
    finally:
        await bot.stop()

    assert status == 400, f"a body that is not UTF-8 got {status}"
    assert stored == 0


# --- 4. PostgreSQL restarted ---------------------------------------------------------------------


def _postgres_binaries() -> Path:
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0,
    )
    if not found:
        pytest.fail(
            "PostgreSQL's server binaries (initdb, pg_ctl) are not under "
            "/usr/lib/postgresql/<version>/bin: install the PostgreSQL server package"
        )
    return found[-1].parent


def _as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run it as the ``postgres`` user."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@dataclass
class Cluster:
    """A PostgreSQL cluster of the test's own: its folder, a free port, trust auth."""

    binaries: Path
    folder: Path
    port: int

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/mentordesk"

    async def run(self, tool: str, *arguments: str) -> None:
        command = _as_postgres([str(self.binaries / tool), *arguments])
        process = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        output, _ = await process.communicate()
        if process.returncode != 0:
            text = output.decode(errors="replace")[-2000:]
            raise AssertionError(f"{tool} {' '.join(arguments)} failed: {text}")

    async def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off"
        )
        log = str(self.folder / "postgresql.log")
        await self.run("pg_ctl", "-D", str(self.data), "-l", log, "-o", options, "-w", "start")

    async def stop(self) -> None:
        await self.run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def kill(self) -> None:
        """Stop it, if it runs, whatever state the test left (synchronous: for the cleanup)."""
        if (self.data / "postmaster.pid").exists():
            command = [str(self.binaries / "pg_ctl"), "-D", str(self.data), "-m", "immediate"]
            subprocess.run(_as_postgres([*command, "-w", "stop"]), check=False, capture_output=True)


@pytest.fixture
async def own_postgres() -> AsyncIterator[Cluster]:
    """Never the shared PostgreSQL: this one is restarted under the bot."""
    binaries = _postgres_binaries()
    folder = Path(tempfile.mkdtemp(prefix="mentordesk-pg-"))
    cluster = Cluster(binaries, folder, free_port())
    try:
        if os.geteuid() == 0:
            shutil.chown(folder, "postgres", "postgres")
        await cluster.run(
            "initdb", "-D", str(cluster.data), "-U", "postgres", "-A", "trust",
            "-E", "UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        await cluster.start()
        admin = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{cluster.port}/postgres")
        try:
            await admin.execute("CREATE DATABASE mentordesk")
        finally:
            await admin.close()
        yield cluster
    finally:
        cluster.kill()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.no_database
async def test_a_postgresql_restart_mid_burst_loses_nothing_and_healthz_tells(
    telegram: FakeTelegram, own_postgres: Cluster, tmp_path: Path
) -> None:
    url = own_postgres.url
    cast = await seed(url, telegram, groups=20, mentors=2)
    port = free_port()
    bot = BotProcess(bot_env(url, telegram, METRICS_PORT=str(port)), tmp_path)
    await bot.start(telegram)
    try:
        async with HealthWatch(port, every=0.1) as health:
            tally = Tally(telegram, post_requests(telegram, cast, 40))
            await asyncio.sleep(2)
            await own_postgres.stop()
            down_at = time.monotonic()
            await asyncio.sleep(2.5)
            await own_postgres.start()
            up_at = time.monotonic()

            def healthy() -> bool:
                answers = health.between(up_at)
                return bool(answers) and answers[-1].status == 200

            await eventually(healthy, 60, "/healthz answering 200 once PostgreSQL is back")
            await wait_delivered(
                tally, cast, url, bot, 90, "the burst delivered after a restart", health
            )
            await asyncio.sleep(2)  # time for a duplicate to show
    finally:
        await bot.stop()

    while_down = health.between(down_at, up_at)
    assert any(s.status == 503 for s in while_down), (
        f"/healthz never answered 503 while PostgreSQL was down: {_shown(while_down)}"
    )
    back = [s for s in health.between(up_at) if s.status == 200]
    assert any(s.body.get("sender") == "sending" for s in back), _shown(back)
    _handled_once(tally, cast)
    assert tally.duplicates() == 0, "messages sent twice after the restart"
