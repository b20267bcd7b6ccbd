"""Wiring: the Bot, the Dispatcher with its routers and middlewares, the scheduler, run modes."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage, SimpleEventIsolation
from aiogram.fsm.storage.redis import RedisStorage
from aiogram.utils.i18n import I18n
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import handlers
from bot.commands import publish_commands
from bot.config import Settings
from bot.db import create_engine, create_session_factory, upgrade
from bot.delivery import Delivery, RateLimitRetryMiddleware, RateLimits, SendBudget
from bot.i18n import create_i18n
from bot.jobs import sla
from bot.jobs.digest import DigestRunner
from bot.jobs.reminders import ReminderRunner
from bot.middlewares import ActorI18nMiddleware, ActorMiddleware, DbSessionMiddleware
from models import ProcessedUpdate

log = logging.getLogger(__name__)

PROCESSED_UPDATES_KEPT = timedelta(days=7)


@dataclass
class App:
    """Everything one running bot holds; built by :func:`build_app`, torn down by ``close``."""

    settings: Settings
    bot: Bot
    dispatcher: Dispatcher
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    i18n: I18n
    delivery: Delivery
    scheduler: AsyncIOScheduler
    _closed: bool = field(default=False, repr=False)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        await self.dispatcher.storage.close()
        await self.dispatcher.fsm.events_isolation.close()
        await self.bot.session.close()
        await self.engine.dispose()


def create_bot(settings: Settings) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_base))
    limits = RateLimits(
        global_per_second=settings.rate_global_per_second,
        private_per_second=settings.rate_private_per_second,
        group_per_minute=settings.rate_group_per_minute,
    )
    session.middleware(RateLimitRetryMiddleware(SendBudget(limits)))
    return Bot(
        settings.token,
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )


def create_storage(settings: Settings) -> tuple[BaseStorage, BaseEventIsolation]:
    """Redis, when configured, keeps dialogues and serialises a chat's updates across replicas."""
    if settings.redis_url:
        storage = RedisStorage.from_url(settings.redis_url)
        return storage, storage.create_isolation()
    return MemoryStorage(), SimpleEventIsolation()


def create_dispatcher(
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    i18n: I18n,
    delivery: Delivery,
    scheduler: AsyncIOScheduler,
) -> Dispatcher:
    storage, isolation = create_storage(settings)
    dispatcher = Dispatcher(
        storage=storage,
        events_isolation=isolation,
        settings=settings,
        session_factory=session_factory,
        delivery=delivery,
        scheduler=scheduler,
    )
    dispatcher.update.outer_middleware(DbSessionMiddleware(session_factory))
    dispatcher.update.outer_middleware(ActorMiddleware(settings))
    ActorI18nMiddleware(i18n, settings.default_language).setup(dispatcher)
    dispatcher.include_routers(*handlers.build_routers())
    return dispatcher


async def prune_processed_updates(session_factory: async_sessionmaker[AsyncSession]) -> None:
    """Forget handled update ids once Telegram can no longer redeliver them."""
    async with session_factory.begin() as session:
        await session.execute(
            delete(ProcessedUpdate).where(
                ProcessedUpdate.processed_at < datetime.now(UTC) - PROCESSED_UPDATES_KEPT
            )
        )


def build_app(settings: Settings) -> App:
    engine = create_engine(settings.database_url)
    session_factory = create_session_factory(engine)
    i18n = create_i18n(settings.default_language)
    bot = create_bot(settings)
    delivery = Delivery(bot)
    scheduler = AsyncIOScheduler(timezone=UTC)
    dispatcher = create_dispatcher(settings, session_factory, i18n, delivery, scheduler)
    return App(
        settings=settings,
        bot=bot,
        dispatcher=dispatcher,
        engine=engine,
        session_factory=session_factory,
        i18n=i18n,
        delivery=delivery,
        scheduler=scheduler,
    )


async def start(app: App) -> None:
    """Work done once before updates flow: schema, commands menu, scheduled jobs."""
    await upgrade(app.engine)
    await publish_commands(app.bot, app.i18n)
    app.scheduler.add_job(
        prune_processed_updates,
        "interval",
        hours=6,
        args=[app.session_factory],
        id="prune_processed_updates",
        replace_existing=True,
    )
    app.scheduler.add_job(
        sla.check_tickets,
        "interval",
        seconds=sla.CHECK_EVERY_SECONDS,
        args=[app.session_factory, app.delivery, app.i18n, app.settings],
        id="check_tickets",
        replace_existing=True,
        max_instances=1,
        coalesce=True,
    )
    await ReminderRunner(
        app.scheduler, app.session_factory, app.delivery, app.i18n, app.settings
    ).start()
    await DigestRunner(
        app.scheduler, app.session_factory, app.delivery, app.i18n, app.settings
    ).start()
    app.scheduler.start()


async def run_polling(
    app: App, *, handle_as_tasks: bool = True, handle_signals: bool = True
) -> None:
    await start(app)
    await app.bot.delete_webhook(drop_pending_updates=False)
    me = await app.bot.get_me()
    log.info("MentorDesk @%s is polling %s", me.username, app.settings.telegram_api_base)
    try:
        await app.dispatcher.start_polling(
            app.bot,
            handle_as_tasks=handle_as_tasks,
            handle_signals=handle_signals,
            close_bot_session=False,
            allowed_updates=app.dispatcher.resolve_used_update_types(),
        )
    finally:
        await app.close()


def webhook_application(app: App, *, handle_in_background: bool = True) -> web.Application:
    """The aiohttp application that receives updates; a wrong secret gets 401."""
    application = web.Application()
    secret = app.settings.webhook_secret
    SimpleRequestHandler(
        app.dispatcher,
        app.bot,
        handle_in_background=handle_in_background,
        secret_token=secret.get_secret_value() if secret else None,
    ).register(application, path=app.settings.webhook_path)
    setup_application(application, app.dispatcher, bot=app.bot)
    return application


async def set_webhook(app: App) -> None:
    secret = app.settings.webhook_secret
    await app.bot.set_webhook(
        app.settings.webhook_url or "",
        secret_token=secret.get_secret_value() if secret else None,
        allowed_updates=app.dispatcher.resolve_used_update_types(),
    )


async def run_webhook(app: App, *, stop: asyncio.Event | None = None) -> None:
    await start(app)
    await set_webhook(app)
    runner = web.AppRunner(webhook_application(app))
    await runner.setup()
    site = web.TCPSite(runner, app.settings.webhook_host, app.settings.webhook_port)
    await site.start()
    log.info(
        "MentorDesk webhook on %s:%s%s",
        app.settings.webhook_host,
        app.settings.webhook_port,
        app.settings.webhook_path,
    )
    try:
        await (stop or asyncio.Event()).wait()
    finally:
        await runner.cleanup()
        await app.close()
