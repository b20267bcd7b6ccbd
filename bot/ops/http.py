"""``GET /healthz`` and ``GET /metrics``: on the webhook server, or on a port of their own
(``METRICS_PORT``) by long polling.

``/healthz`` answers 200 while the database answers, the sender works (sending, or standing
by while another process sends) and the periodic jobs run; 503 otherwise, and while the sender
waits for the database. Telegram being unreachable is said, with since when, but is no reason
for 503: the bot is well and its messages wait. Both report the inbox and outbox backlogs as
the database holds them, for every process together.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Protocol

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.delivery.inbox import Inbox
from bot.delivery.retry import Reachability
from bot.delivery.sender import Sender
from bot.ops.metrics import Metrics

log = logging.getLogger(__name__)

# The sender's loop turns at least every few seconds (lease renewal, election); a loop silent
# for longer than this is stuck.
STALE_SECONDS = 30.0
DATABASE_TIMEOUT = 5.0
# The sender's states that are well; "elsewhere": a process of its own sends (SENDER=separate).
WORKING = ("sending", "standing by", "elsewhere")


class Watched(Protocol):
    """What the two endpoints look at: a running bot (``bot.app.App``)."""

    session_factory: async_sessionmaker[AsyncSession]
    inbox: Inbox
    sender: Sender
    scheduler: AsyncIOScheduler
    metrics: Metrics
    reach: Reachability
    sends: bool
    runs_jobs: bool


@dataclass
class Health:
    database: bool
    sender: str
    jobs: bool
    telegram_reachable: bool
    telegram_unreachable_since: str | None
    inbox_backlog: int | None
    outbox_backlog: int | None
    updates_set_aside: int | None

    @property
    def ok(self) -> bool:
        return self.database and self.sender in WORKING and self.jobs


async def check(app: Watched) -> Health:
    """How this process is, and the backlogs; the metrics' gauges follow the figures."""
    inbox: int | None = None
    outbox: int | None = None
    set_aside: int | None = None
    sender = app.sender.state
    try:
        async with asyncio.timeout(DATABASE_TIMEOUT):
            async with app.session_factory() as session:
                await session.execute(text("SELECT 1"))
            inbox = await app.inbox.waiting()
            outbox = await app.sender.waiting()
            set_aside = await app.inbox.set_aside()
            if not app.sends:  # SENDER=separate: a process of its own must hold the lease
                sender = "elsewhere" if await app.sender.someone_sends() else "nobody"
    except Exception as error:  # noqa: BLE001 - an unreachable database is the answer
        log.warning("health: the database does not answer (%s)", type(error).__name__)
    stale = time.monotonic() - app.sender.beat > STALE_SECONDS
    if app.sends and sender != "stopped" and stale:
        sender = "stopped"  # its loop no longer turns
    for gauge, value in (
        (app.metrics.inbox_backlog, inbox),
        (app.metrics.outbox_backlog, outbox),
        (app.metrics.set_aside, set_aside),
    ):
        if value is not None:
            gauge.set(value)
    since = app.reach.unreachable_since
    return Health(
        database=inbox is not None,
        sender=sender,
        jobs=app.scheduler.running or not app.runs_jobs,
        telegram_reachable=app.reach.reachable,
        telegram_unreachable_since=(
            datetime.fromtimestamp(since, UTC).isoformat() if since is not None else None
        ),
        inbox_backlog=inbox,
        outbox_backlog=outbox,
        updates_set_aside=set_aside,
    )


def add_routes(application: web.Application, app: Watched) -> None:
    async def healthz(_request: web.Request) -> web.Response:
        health = await check(app)
        body = {"status": "ok" if health.ok else "unhealthy", **asdict(health)}
        return web.json_response(body, status=200 if health.ok else 503)

    async def metrics(_request: web.Request) -> web.Response:
        await check(app)  # the backlog gauges, fresh
        return web.Response(
            body=generate_latest(app.metrics.registry),
            headers={"Content-Type": CONTENT_TYPE_LATEST},
        )

    application.router.add_get("/healthz", healthz)
    application.router.add_get("/metrics", metrics)


async def serve(app: Watched, host: str, port: int) -> web.AppRunner:
    """A small server of its own for the two endpoints (long polling has no other)."""
    application = web.Application()
    add_routes(application, app)
    runner = web.AppRunner(application, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    log.info("health and metrics on http://%s:%s/healthz and /metrics", host, port)
    return runner
