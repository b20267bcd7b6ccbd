"""Meeting reminders as APScheduler jobs, with the database as the only source of truth.

Each unsent reminder due within ``HORIZON`` has a one-shot ``date`` job in the bot's
``AsyncIOScheduler``; nothing about them lives only in memory. On start the jobs are rebuilt
from the table, and a sweep every ``SWEEP_SECONDS`` plans the next stretch, picks up rows
written by another bot process and finishes meetings that have ended; so start-up costs the
same with ten reminders or ten thousand spread over the weeks ahead.

A job takes its row with a conditional UPDATE (``sent_at IS NULL``) in the same transaction
that writes the reminder messages to the outbox, so with two processes, or a crash at any
moment, each reminder goes out exactly once. A reminder that fell due while no bot was running
goes out on start if its meeting has not begun (only the latest of several missed ones: the
others would repeat it), and is marked skipped otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from apscheduler.jobstores.base import JobLookupError
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bot.db import transaction
from bot.delivery.outbox import Outbox
from bot.domain import meetings
from bot.domain.meetings import DueReminder, PlannedReminder
from bot.jobs.runner import JobRunner
from bot.news.meetings import MeetingNews
from models import Meeting, MeetingStatus, Reminder

log = logging.getLogger(__name__)

SWEEP_SECONDS = 30
# Reminders due within this window have jobs; the sweep runs several times within it, so a
# late or failed sweep still leaves every reminder planned ahead of its moment.
HORIZON = timedelta(minutes=5)
JOB_PREFIX = "meeting-reminder:"
SWEEP_JOB = "meeting-reminders-sweep"


@dataclass(frozen=True)
class CatchUp:
    planned: int = 0  # jobs added for reminders still ahead
    overdue: int = 0  # missed reminders sent right away
    skipped: int = 0  # missed reminders of meetings that began, or superseded by a later one
    finished: int = 0  # meetings marked done


def job_id(reminder_id: int) -> str:
    return f"{JOB_PREFIX}{reminder_id}"


class ReminderRunner(JobRunner):
    """Plans, rebuilds and sends meeting reminders for one bot process."""

    async def start(self) -> CatchUp:
        """Rebuild the jobs from the database and start the sweep; call before the scheduler."""
        report = await self.catch_up()
        self.every(SWEEP_SECONDS, self.catch_up, SWEEP_JOB)
        log.info("meeting reminders rebuilt: %s", report)
        return report

    # --- planning --------------------------------------------------------------------------

    def plan(self, reminders: Sequence[PlannedReminder], now: datetime | None = None) -> int:
        """Add (or move) the jobs of reminders due within the horizon; how many were planned."""
        now = now or self.clock()
        planned = 0
        for reminder in reminders:
            if reminder.due_at > now + HORIZON:
                continue
            job = self.scheduler.get_job(job_id(reminder.id))
            if job is not None and getattr(job.trigger, "run_date", None) == reminder.due_at:
                continue
            self.scheduler.add_job(
                self.send,
                "date",
                run_date=max(reminder.due_at, now),
                args=[reminder.id],
                id=job_id(reminder.id),
                replace_existing=True,
                misfire_grace_time=None,
                max_instances=1,
            )
            planned += 1
        return planned

    def drop(self, reminder_ids: Sequence[int]) -> None:
        for reminder_id in reminder_ids:
            try:
                self.scheduler.remove_job(job_id(reminder_id))
            except JobLookupError:
                continue

    def plan_after_commit(
        self,
        session: AsyncSession,
        reminders: Sequence[PlannedReminder],
        *,
        drop: Sequence[int] = (),
    ) -> None:
        """Plan jobs once the handler's transaction commits; a job planned earlier could fire
        before its row exists for other connections. Nothing happens if it rolls back."""
        planned, dropped = list(reminders), list(drop)

        def _committed(_session: Session) -> None:
            self.drop(dropped)
            self.plan(planned)

        event.listen(session.sync_session, "after_commit", _committed, once=True)

    # --- the database side -------------------------------------------------------------------

    async def catch_up(self, now: datetime | None = None) -> CatchUp:
        """Plan what falls due within the horizon; send or skip what was missed."""
        now = now or self.clock()
        async with transaction(self.session_factory) as session:
            finished = await meetings.finish_meetings(session, now)
            rows = await meetings.unsent_before(session, now + HORIZON)
            skip, overdue, ahead = _sort_out(rows, now)
            await meetings.skip_reminders(session, skip, now)
        self.plan([PlannedReminder(row.id, row.due_at) for row in overdue], now)
        planned = self.plan([PlannedReminder(row.id, row.due_at) for row in ahead], now)
        report = CatchUp(
            planned=planned,
            overdue=len(overdue),
            skipped=len(skip),
            finished=finished,
        )
        if report.overdue or report.skipped:
            log.info("meeting reminders caught up: %s", report)
        return report

    async def send(self, reminder_id: int) -> bool:
        """The job: take the reminder and write its messages, in one transaction; False if it
        was not this process's to send (taken already, cancelled, or its meeting began)."""
        now = self.clock()
        async with transaction(self.session_factory) as session:
            if not await meetings.take_reminder(session, reminder_id, now):
                return False
            reminder = await session.get(Reminder, reminder_id)
            meeting = await session.get(Meeting, reminder.meeting_id) if reminder else None
            if meeting is None:
                return False
            news = MeetingNews(session, Outbox(session, self.sender), self.i18n, self.settings, now)
            recipients = await news.remind(meeting)
        log.info("reminder %s of meeting %s: %s chats", reminder_id, meeting.id, recipients)
        return True


def _sort_out(
    rows: Sequence[DueReminder], now: datetime
) -> tuple[list[int], list[DueReminder], list[DueReminder]]:
    """Split unsent reminders into those to skip, those overdue to send now, those ahead."""
    skip: list[int] = []
    overdue: list[DueReminder] = []
    ahead: list[DueReminder] = []
    latest_due: dict[int, DueReminder] = {}
    for row in rows:
        if row.meeting_status != MeetingStatus.scheduled or row.meeting_starts_at <= now:
            skip.append(row.id)
        elif row.due_at > now:
            ahead.append(row)
        else:
            earlier = latest_due.get(row.meeting_id)
            if earlier is not None:
                # Rows come ordered by due time: the later one says the same, closer to the start.
                skip.append(earlier.id)
            latest_due[row.meeting_id] = row
    overdue.extend(latest_due.values())
    return skip, overdue, ahead
