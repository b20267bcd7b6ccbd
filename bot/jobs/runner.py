"""What the bot's periodic jobs share: their dependencies and how a repeating job is added."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram.utils.i18n import I18n
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.delivery.outbox import Sender
from bot.time.clock import Clock, utc_now


class JobRunner:
    """A set of APScheduler jobs of one bot process, with what they need to do their work.

    Jobs write what they announce to the outbox in the transaction of what they change, and
    the ``sender`` takes the rows once it commits.
    """

    def __init__(
        self,
        scheduler: AsyncIOScheduler,
        session_factory: async_sessionmaker[AsyncSession],
        sender: Sender,
        i18n: I18n,
        settings: Settings,
        *,
        clock: Clock = utc_now,
    ) -> None:
        self.scheduler = scheduler
        self.session_factory = session_factory
        self.sender = sender
        self.i18n = i18n
        self.settings = settings
        self.clock = clock

    def every(self, seconds: float, job: Callable[[], Awaitable[Any]], job_id: str) -> None:
        """Run ``job`` every ``seconds``: one run at a time, missed runs folded into one."""
        self.scheduler.add_job(
            job,
            "interval",
            seconds=seconds,
            id=job_id,
            replace_existing=True,
            max_instances=1,
            coalesce=True,
        )
