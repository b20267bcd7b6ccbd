"""Wiring: the Bot, the Dispatcher with its routers and middlewares, the inbox and the sender,
the periodic jobs, and the ways to run (long polling, the webhook, a sender of its own)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramUnauthorizedError
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage, SimpleEventIsolation
from aiogram.utils.i18n import I18n
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import handlers
from bot.config import Settings
from bot.db import create_engine, create_session_factory
from bot.db.schema import upgrade_at_start
from bot.delivery.inbox import Inbox, UpdateRunner, renew_leases
from bot.delivery.leadership import this_host
from bot.delivery.poller_lock import PollerLock
from bot.delivery.retry import Reachability
from bot.delivery.sender import Sender, create_sender
from bot.delivery.telegram import create_bot, poll, webhook_handler
from bot.domain.topic_learning import Suggesters
from bot.domain.topics import ActiveTopics
from bot.i18n import create_i18n
from bot.jobs import retention, sla
from bot.jobs.digest import DigestRunner
from bot.jobs.housekeeping import prune
from bot.jobs.reminders import ReminderRunner
from bot.jobs.undeliverable import Undeliverable
from bot.logs import keep_private
from bot.ops import http as ops_http
from bot.ops.metrics import Metrics
from bot.telegram.commands import publish_commands
from bot.telegram.fsm import TransactionalStorage
from bot.telegram.middlewares import ActorI18nMiddleware, ActorMiddleware, DbSessionMiddleware
from bot.time.clock import Clock, utc_now

log = logging.getLogger(__name__)

IDLE_TIMEOUT = 15.0


@dataclass
class App:
    """Everything one running bot holds; built by :func:`build_app`, torn down by ``close``."""

    settings: Settings
    bot: Bot
    dispatcher: Dispatcher
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    i18n: I18n
    inbox: Inbox
    runner: UpdateRunner
    sender: Sender
    scheduler: AsyncIOScheduler
    metrics: Metrics
    reach: Reachability
    clock: Clock = utc_now
    sends: bool = True  # this process runs a sender (SENDER=builtin, or ``--sender``)
    runs_jobs: bool = True  # the periodic jobs (not in a sender of its own)
    _stop: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list, repr=False)
    _closed: bool = field(default=False, repr=False)

    def stop(self) -> None:
        """Ask the running bot to finish what it is doing and return."""
        self._stop.set()

    async def wait_stopped(self) -> None:
        await self._stop.wait()

    async def idle(self, timeout: float = IDLE_TIMEOUT) -> None:
        """Wait until every stored update is handled and every message sent (for tests)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self._closed:
            if self.runner.idle() and await self.inbox.waiting() == 0 and await self.sender.idle():
                return
            if loop.time() > deadline:
                msg = (
                    f"not idle after {timeout} s: {self.runner.backlog} updates being handled, "
                    f"{self.sender.backlog()} messages held, {self.sender.in_flight} sending"
                )
                raise TimeoutError(msg)
            await asyncio.sleep(0.005)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.runner.stop()
        await self.dispatcher["suggesters"].close()
        await self.sender.stop()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        await self.dispatcher.storage.close()
        await self.dispatcher.fsm.events_isolation.close()
        await self.bot.session.close()
        await self.engine.dispose()
        gc.unfreeze()  # what ``start`` set aside is the collector's again


Fatal = tuple[type[BaseException], ...]


def supervise(
    name: str, work: Callable[[], Awaitable[None]], *, fatal: Fatal = ()
) -> asyncio.Task[None]:
    """Run a long-lived task of the bot; started again when it fails (the database or Telegram
    away longer than it could wait, or a bug), after a pause that grows while it keeps failing.
    A ``fatal`` error ends it for good (the token refused)."""

    async def keep() -> None:
        failures = 0
        while True:
            started = time.monotonic()
            try:
                await work()
            except fatal:
                raise
            except Exception:
                log.exception("%s failed; starting it again", name)
            else:
                return
            failures = 0 if time.monotonic() - started > 60 else failures + 1
            await asyncio.sleep(min(30.0, 2.0**failures))

    return asyncio.create_task(keep(), name=name)


def process_name() -> str:
    """Who holds a lease: this host and process, and a random part against reused pids."""
    return f"{this_host()}:{os.getpid()}:{secrets.token_hex(4)}"


def create_storage(settings: Settings) -> tuple[BaseStorage, BaseEventIsolation]:
    """Redis, when configured, keeps dialogues and serialises a chat's updates across replicas.
    Either way a dialogue moves on only when its update's transaction commits
    (``bot.telegram.fsm``)."""
    if settings.redis_url:
        # Loaded only when configured: a bot without Redis does not carry its client.
        from aiogram.fsm.storage.redis import RedisStorage  # noqa: PLC0415

        storage = RedisStorage.from_url(settings.redis_url)
        # A replica killed while handling leaves its chat's lock behind: it lapses with the
        # dead replica's inbox leases, so the chat's next update waits no longer than they do
        # (a handler's transaction holds database work only and takes far less).
        isolation = storage.create_isolation(lock_kwargs={"timeout": 20})
        return TransactionalStorage(storage), isolation
    return TransactionalStorage(MemoryStorage()), SimpleEventIsolation()


def build_app(settings: Settings, *, clock: Clock = utc_now) -> App:
    keep_private()
    engine = create_engine(settings.database_url)
    session_factory = create_session_factory(engine)
    i18n = create_i18n(settings.default_language)
    bot = create_bot(settings.token, settings.telegram_api_base)
    owner = process_name()
    metrics = Metrics()
    reach = Reachability()
    metrics.watch(reach)
    inbox = Inbox(session_factory, owner)
    sender = create_sender(settings, bot, session_factory, owner, metrics, reach)
    undeliverable = Undeliverable(i18n, settings, sender, bot, session_factory)
    undeliverable.register()
    scheduler = AsyncIOScheduler(timezone=UTC)
    storage, isolation = create_storage(settings)
    dispatcher = Dispatcher(
        storage=storage,
        events_isolation=isolation,
        settings=settings,
        session_factory=session_factory,
        scheduler=scheduler,
        sender=sender,
        suggesters=Suggesters(session_factory),
        active_topics=ActiveTopics(),
        clock=clock,
    )
    dispatcher.update.outer_middleware(DbSessionMiddleware(session_factory, inbox, sender))
    dispatcher.update.outer_middleware(ActorMiddleware(settings, i18n))
    ActorI18nMiddleware(i18n, settings.default_language).setup(dispatcher)
    dispatcher.include_routers(*handlers.build_routers())
    runner = UpdateRunner(
        dispatcher,
        bot,
        inbox,
        # SQLite writes one transaction at a time: more handlers waiting would only put the
        # sender's records further back in that queue.
        concurrency=2 if engine.dialect.name == "sqlite" else 8,
        ordered_across_processes=bool(settings.webhook_url),
        gave_up=undeliverable.apologise,
        metrics=metrics,
    )
    return App(
        settings=settings,
        bot=bot,
        dispatcher=dispatcher,
        engine=engine,
        session_factory=session_factory,
        i18n=i18n,
        inbox=inbox,
        runner=runner,
        sender=sender,
        scheduler=scheduler,
        metrics=metrics,
        reach=reach,
        clock=clock,
        sends=settings.sender == "builtin",
    )


async def start(app: App) -> None:
    """Work done once before updates flow: schema, commands menu, jobs, the scheduler."""
    await upgrade_at_start(app.engine)
    await publish_commands(app.bot, app.i18n)
    # Known from now on: hooks inside a transaction name the bot, and tickets open topics in
    # mentors' chats where the bot has them.
    me = await app.bot.me()
    app.settings.note_private_topics(bool(me.has_topics_enabled))
    if app.sends:
        app._tasks.append(supervise("sender", app.sender.run))
    app._tasks.append(
        supervise("inbox leases", lambda: renew_leases(app.inbox, app.runner.submit, every=5))
    )
    app.scheduler.add_job(
        prune,
        "interval",
        hours=6,
        args=[app.inbox, app.session_factory],
        id="prune",
        replace_existing=True,
    )
    app.scheduler.add_job(
        sla.check_tickets,
        "interval",
        seconds=sla.CHECK_EVERY_SECONDS,
        args=[app.session_factory, app.sender, app.i18n, app.settings],
        id="check_tickets",
        replace_existing=True,
        max_instances=1,
        coalesce=True,
    )
    app.scheduler.add_job(
        retention.erase_expired,
        "interval",
        hours=retention.RETENTION_EVERY_HOURS,
        next_run_time=datetime.now(UTC),
        args=[app.session_factory, app.engine, app.sender, app.i18n, app.settings],
        id="retention",
        replace_existing=True,
        max_instances=1,
        coalesce=True,
    )
    app.scheduler.add_job(
        retention.WalAfterErasure(app.session_factory, app.engine).run,
        "interval",
        seconds=retention.TRUNCATE_EVERY_SECONDS,
        id="truncate_wal",
        replace_existing=True,
        max_instances=1,
        coalesce=True,
    )
    await ReminderRunner(
        app.scheduler, app.session_factory, app.sender, app.i18n, app.settings, clock=app.clock
    ).start()
    await DigestRunner(
        app.scheduler, app.session_factory, app.sender, app.i18n, app.settings
    ).start()
    app.scheduler.start()
    # What start-up loaded (aiogram's types alone are a quarter of a million objects) lives as
    # long as the process: set aside from the garbage collector, so that its full collections
    # walk only what came since, a few milliseconds instead of a tenth of a second each, every
    # update waiting meanwhile.
    gc.collect()
    gc.freeze()


async def run_polling(app: App) -> None:
    """Long polling until ``app.stop()``: the only process that takes this bot's updates
    (``AnotherPoller`` if another one does)."""
    lock = PollerLock(app.engine)
    ops: web.AppRunner | None = None
    try:
        await lock.acquire()
        await start(app)
        if app.settings.metrics_port is not None:
            ops = await ops_http.serve(app, app.settings.metrics_host, app.settings.metrics_port)
        await app.bot.delete_webhook(drop_pending_updates=False)
        # Whoever held the unhandled updates before is gone: Telegram lets one poller in.
        app.runner.submit(await app.inbox.take_waiting(all_of_them=True))
        me = await app.bot.me()
        log.info("MentorDesk @%s is polling %s", me.username, app.settings.telegram_api_base)
        allowed_updates = app.dispatcher.resolve_used_update_types()
        polling = supervise(
            "polling",
            lambda: poll(
                app.bot,
                app.inbox,
                app.runner.submit,
                allowed_updates=allowed_updates,
                reach=app.reach,
            ),
            fatal=(TelegramUnauthorizedError,),
        )
        app._tasks.append(polling)
        stopping = asyncio.create_task(app.wait_stopped())
        await asyncio.wait([polling, stopping], return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if polling.done() and polling.exception() is not None:
            raise polling.exception()  # type: ignore[misc]
    finally:
        if ops is not None:
            await ops.cleanup()
        await lock.release()
        await app.close()


def webhook_application(app: App) -> web.Application:
    """The aiohttp application that receives updates (a wrong secret gets 401), with
    ``/healthz`` and ``/metrics`` beside them."""
    application = web.Application()
    ops_http.add_routes(application, app)
    secret = app.settings.webhook_secret
    application.router.add_post(
        app.settings.webhook_path,
        webhook_handler(
            app.bot, app.inbox, app.runner.submit, secret.get_secret_value() if secret else None
        ),
    )
    return application


async def set_webhook(app: App) -> None:
    secret = app.settings.webhook_secret
    await app.bot.set_webhook(
        app.settings.webhook_url or "",
        secret_token=secret.get_secret_value() if secret else None,
        allowed_updates=app.dispatcher.resolve_used_update_types(),
    )


async def run_webhook(app: App) -> None:
    """Serve the webhook until ``app.stop()``."""
    try:
        await start(app)
        app.runner.submit(await app.inbox.take_waiting(all_of_them=False))
        runner = web.AppRunner(webhook_application(app))
        await runner.setup()
        site = web.TCPSite(runner, app.settings.webhook_host, app.settings.webhook_port)
        await site.start()
        await set_webhook(app)
        log.info(
            "MentorDesk webhook on %s:%s%s",
            app.settings.webhook_host,
            app.settings.webhook_port,
            app.settings.webhook_path,
        )
        try:
            await app.wait_stopped()
        finally:
            await runner.cleanup()
    finally:
        await app.close()


async def run_sender(app: App) -> None:
    """``python -m bot --sender``: only the sender, until ``app.stop()``, beside bot processes
    that take the updates with ``SENDER=separate``. ``/healthz`` and ``/metrics`` are on
    ``METRICS_PORT`` when it is set."""
    app.sends, app.runs_jobs = True, False
    ops: web.AppRunner | None = None
    try:
        await upgrade_at_start(app.engine)
        await app.bot.me()  # known from now on: hooks inside a transaction name the bot
        app._tasks.append(supervise("sender", app.sender.run))
        if app.settings.metrics_port is not None:
            ops = await ops_http.serve(app, app.settings.metrics_host, app.settings.metrics_port)
        log.info("MentorDesk sends the outbox from this process")
        await app.wait_stopped()
    finally:
        if ops is not None:
            await ops.cleanup()
        await app.close()
