"""The weekly digest: last week's figures and chart for each coordinator, Monday 09:00 their time.

One APScheduler cron job per time zone in use fires at Monday 09:00 in that zone and sends the
digests of the coordinators living in it; the set of jobs follows the coordinators' zones
through a sync every ``SYNC_MINUTES``, which also catches up digests that fell due while no
bot was running (at start as well), so a digest is late at worst, never lost.

Each digest is taken with an insert into ``weekly_digests`` whose primary key is
(coordinator, programme, week), in the same transaction that writes the digest to the outbox:
a second insert fails and rolls its messages back with it, so whichever process or job gets
there first sends it, and a restart at 09:00, a second replica or the catch-up finds it taken.
A week with no requests and no meetings is taken but not sent; there is nothing to report.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.db import transaction
from bot.delivery.outbox import Document, Outbox
from bot.domain.people import language_of
from bot.domain.stats import Period, collect, monday, weekly
from bot.i18n import locale
from bot.jobs.runner import JobRunner
from bot.time.zones import zone
from bot.views.charts import render_weekly
from bot.views.stats import chart_text, digest_chart_caption, digest_chart_title, digest_text
from models import Person, Programme, Role, RoleKind, WeeklyDigest

log = logging.getLogger(__name__)

DIGEST_WEEKDAY = "mon"
DIGEST_TIME = time(9, 0)
JOB_PREFIX = "weekly-digest:"
SYNC_JOB = "weekly-digest-sync"
SYNC_MINUTES = 10
TREND_WEEKS = 8
# A cron job may fire a moment before its minute by the database clock; it still counts.
CLOCK_SLACK = timedelta(minutes=1)


@dataclass(frozen=True)
class Recipient:
    """A coordinator of one programme, as the digest needs them."""

    person_id: int
    telegram_id: int
    programme_id: int
    programme_title: str
    zone: str
    language: str


def due_week(now: datetime, zone_name: str) -> tuple[date, datetime]:
    """The Monday starting the week to report (the last full week) and when its digest is due."""
    this_monday = monday(now.astimezone(zone(zone_name)).date())
    due = datetime.combine(this_monday, DIGEST_TIME, tzinfo=zone(zone_name)).astimezone(UTC)
    return this_monday - timedelta(days=7), due


async def recipients(session: AsyncSession, settings: Settings) -> list[Recipient]:
    """Every active coordinator of every programme, with their zone and language."""
    rows = await session.execute(
        select(Person, Programme)
        .join(Role, Role.person_id == Person.id)
        .join(Programme, Programme.id == Role.programme_id)
        .where(Role.kind == RoleKind.coordinator, Role.active.is_(True))
        .order_by(Person.id, Programme.id)
    )
    return [
        Recipient(
            person_id=person.id,
            telegram_id=person.telegram_id,
            programme_id=programme.id,
            programme_title=programme.title,
            zone=person.timezone or settings.default_timezone,
            language=language_of(person, settings.default_language),
        )
        for person, programme in rows
    ]


def job_id(zone_name: str) -> str:
    return f"{JOB_PREFIX}{zone_name}"


class DigestRunner(JobRunner):
    """Schedules and sends the weekly digests for one bot process."""

    async def start(self) -> int:
        """Plan the cron jobs, send what is overdue, and keep both up to date."""
        sent = await self.sync()
        self.every(SYNC_MINUTES * 60, self.sync, SYNC_JOB)
        return sent

    async def _recipients(self) -> list[Recipient]:
        async with self.session_factory() as session:
            return await recipients(session, self.settings)

    async def sync(self, now: datetime | None = None) -> int:
        """Have one cron job per zone of the coordinators, and catch up overdue digests."""
        found = await self._recipients()
        self.plan({r.zone for r in found})
        return await self._send_due(found, now or datetime.now(UTC))

    def plan(self, zones: set[str]) -> None:
        for job in self.scheduler.get_jobs():
            if job.id.startswith(JOB_PREFIX) and job.id[len(JOB_PREFIX) :] not in zones:
                job.remove()
        for zone_name in sorted(zones):
            if self.scheduler.get_job(job_id(zone_name)) is not None:
                continue
            self.scheduler.add_job(
                self.send_zone,
                CronTrigger(
                    day_of_week=DIGEST_WEEKDAY,
                    hour=DIGEST_TIME.hour,
                    minute=DIGEST_TIME.minute,
                    timezone=zone(zone_name),
                ),
                args=[zone_name],
                id=job_id(zone_name),
                replace_existing=True,
                misfire_grace_time=3600,
                coalesce=True,
                max_instances=1,
            )

    async def send_zone(self, zone_name: str, now: datetime | None = None) -> int:
        """The cron job of a zone: the digests of the coordinators who live in it."""
        moment = (now or datetime.now(UTC)) + CLOCK_SLACK
        found = [r for r in await self._recipients() if r.zone == zone_name]
        return await self._send_due(found, moment)

    async def catch_up(self, now: datetime | None = None) -> int:
        """Send every digest due and not yet taken, e.g. one missed while the bot was down."""
        return await self._send_due(await self._recipients(), now or datetime.now(UTC))

    async def _send_due(self, found: list[Recipient], now: datetime) -> int:
        sent = 0
        for recipient in found:
            week_start, due = due_week(now, recipient.zone)
            if now < due:
                continue
            try:
                sent += await self.deliver(recipient, week_start, now)
            except Exception:
                # One coordinator's failure must not cost the others their digest.
                log.exception("weekly digest for %s failed", recipient)
        if sent:
            log.info("weekly digests sent: %s", sent)
        return sent

    async def deliver(self, recipient: Recipient, week_start: date, now: datetime) -> bool:
        """Take one digest and write it to the outbox; False if it was taken already or had
        nothing to say. The chart is drawn before the transaction, which stays short."""
        key = (recipient.person_id, recipient.programme_id, week_start)
        last_day = week_start + timedelta(days=6)
        async with self.session_factory() as session:
            if await session.get(WeeklyDigest, key) is not None:
                return False
            period = Period.days(week_start, last_day, recipient.zone)
            figures = await collect(session, [recipient.programme_id], period, now)
            quiet = figures.empty and not figures.meetings.held
            trend_start = week_start - timedelta(weeks=TREND_WEEKS - 1)
            trend = Period.days(trend_start, last_day, period.zone)
            series = await weekly(session, [recipient.programme_id], trend)
        with locale(self.i18n, recipient.language):
            text = digest_text(figures, recipient.language)
            words = chart_text(series, recipient.language, title=digest_chart_title())
            caption = digest_chart_caption()
        png = await render_weekly(series, words) if series.total and not quiet else None
        try:
            async with transaction(self.session_factory) as session:
                session.add(
                    WeeklyDigest(
                        person_id=recipient.person_id,
                        programme_id=recipient.programme_id,
                        week_start=week_start,
                        taken_at=now,
                        sent_at=None if quiet else now,
                    )
                )
                await session.flush()
                if quiet:
                    return False
                outbox = Outbox(session, self.sender)
                await outbox.send(
                    recipient.telegram_id, text, purpose="weekly_digest",
                    person_id=recipient.person_id,
                )  # fmt: skip
                if png is not None:
                    await outbox.send_file(
                        recipient.telegram_id,
                        Document(filename=f"digest-{week_start:%Y-%m-%d}.png", content=png),
                        photo=True,
                        caption=caption,
                        purpose="weekly_digest",
                        person_id=recipient.person_id,
                    )
        except IntegrityError:
            return False
        return True
