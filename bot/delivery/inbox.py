"""The inbox: every update is stored before Telegram is told it arrived, and handled from here.

Updates arrive by long polling (``poll``) or by the webhook (``webhook_handler``).
``Inbox.store`` commits a batch of updates (a redelivery is ignored) before the poller asks for
the next batch, which is what confirms the previous one to Telegram (it counts an update as
received when ``getUpdates`` asks from a higher offset), and before the webhook answers 200.
Each update is stored as Telegram wrote it and read on its own: one that aiogram cannot read is
kept all the same, set aside (handled, with why), and never holds up the ones after it. The
runner (``bot.delivery.runner``) then hands the others to the dispatcher; the handler's
transaction marks its update handled (``finish``), so a crash at any moment leaves an update
either handled with everything it did, or not handled at all and handled again after the
restart; never twice.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from aiogram import Bot
from aiogram.exceptions import TelegramConflictError, TelegramUnauthorizedError
from aiogram.types import Update
from aiogram.utils.backoff import Backoff, BackoffConfig
from aiohttp import web
from pydantic import ValidationError
from sqlalchemy import Table, bindparam, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import connection_of, dialect_of, transaction
from bot.delivery.retry import TRANSIENT, Reachability
from bot.delivery.telegram import RawUpdates
from models import InboxUpdate

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=15)
# The table itself for the statement every update runs: no objects of the session are involved.
_TABLE = cast(Table, InboxUpdate.__table__)
# Every update ends with it: built once.
_FINISH = (
    update(_TABLE)
    .where(
        _TABLE.c.update_id == bindparam("b_update_id"),
        _TABLE.c.handled_at.is_(None),
        or_(_TABLE.c.lease_owner.is_(None), _TABLE.c.lease_owner == bindparam("b_owner")),
    )
    .values(handled_at=bindparam("b_now"), lease_owner=None, lease_until=None)
)
KEPT = timedelta(days=7)  # Telegram redelivers for a day at most
UNREADABLE = "unreadable"  # how the error of an update set aside begins


class Superseded(Exception):  # noqa: N818 - not an error: someone else was first
    """Another bot process finished this update first; this attempt is rolled back."""


def chat_key(update: Update) -> int:
    """The chat whose order an update keeps: its message's or button's chat, else its sender."""
    for event in (
        update.message,
        update.edited_message,
        update.channel_post,
        update.edited_channel_post,
        update.my_chat_member,
        update.chat_member,
        update.chat_join_request,
    ):
        if event is not None:
            return int(event.chat.id)
    query = update.callback_query
    if query is not None:
        return int(query.message.chat.id if query.message is not None else query.from_user.id)
    for other in (update.inline_query, update.chosen_inline_result, update.poll_answer):
        user = getattr(other, "from_user", None) or getattr(other, "user", None)
        if user is not None:
            return int(user.id)
    return 0


@dataclass
class Arrived:
    """An update as Telegram sent it, read by aiogram, or not (``unreadable`` says why)."""

    update_id: int
    payload: str
    update: Update | None
    unreadable: str | None = None

    @classmethod
    def read(cls, update_id: int, payload: str, bot: Bot) -> Arrived:
        try:
            update = Update.model_validate_json(payload, context={"bot": bot})
        except ValidationError as error:
            return cls(update_id, payload, None, unreadable=_why(error))
        return cls(update_id, payload, update)


def _why(error: ValidationError) -> str:
    """Where aiogram could not read an update: the fields and the kinds of error, never the
    values (a person's text)."""
    places = [
        f"{'.'.join(str(part) for part in found['loc'])}: {found['type']}"
        for found in error.errors()[:3]
    ]
    return f"{UNREADABLE}: {error.error_count()} errors ({'; '.join(places)})"


@dataclass
class Stored:
    """An update in the inbox, as the runner needs it."""

    update_id: int
    chat_key: int
    payload: str
    attempts: int = 0
    update: Update | None = None  # already read, when it has just arrived


class Inbox:
    """The ``inbox_updates`` table, seen by one bot process (``owner``)."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession], owner: str) -> None:
        self.session_factory = session_factory
        self.owner = owner

    async def store(self, arrived: Sequence[Arrived]) -> list[Stored]:
        """Commit the updates; returns those new to the inbox that can be handled."""
        if not arrived:
            return []
        now = datetime.now(UTC)
        async with transaction(self.session_factory) as session:
            known = set(
                await session.scalars(
                    select(InboxUpdate.update_id).where(
                        InboxUpdate.update_id.in_([a.update_id for a in arrived])
                    )
                )
            )
            new = {a.update_id: a for a in arrived if a.update_id not in known}.values()
            session.add_all(self._row(a, now) for a in new)
        for item in new:
            if item.unreadable is not None:
                log.warning("update %s set aside: %s", item.update_id, item.unreadable)
        return [
            Stored(a.update_id, chat_key(a.update), a.payload, update=a.update)
            for a in new
            if a.update is not None
        ]

    def _row(self, arrived: Arrived, now: datetime) -> InboxUpdate:
        update = arrived.update
        if update is None:  # kept as it came, and never handled
            return InboxUpdate(
                update_id=arrived.update_id, chat_key=0, payload=arrived.payload,
                received_at=now, attempts=0, handled_at=now, error=arrived.unreadable,
            )  # fmt: skip
        return InboxUpdate(
            update_id=arrived.update_id, chat_key=chat_key(update), payload=arrived.payload,
            received_at=now, attempts=0, lease_owner=self.owner, lease_until=now + LEASE,
        )  # fmt: skip

    async def take_waiting(self, *, all_of_them: bool) -> list[Stored]:
        """Unhandled updates to take on: those whose lease lapsed, or every one (on start of
        the only process that polls, when whoever held them is gone)."""
        now = datetime.now(UTC)
        async with transaction(self.session_factory) as session:
            query = (
                select(InboxUpdate)
                .where(InboxUpdate.handled_at.is_(None))
                .order_by(InboxUpdate.update_id)
                .limit(5000)
            )
            if not all_of_them:
                query = query.where(
                    or_(InboxUpdate.lease_until.is_(None), InboxUpdate.lease_until < now)
                )
            if dialect_of(session) == "postgresql":
                query = query.with_for_update(skip_locked=True)
            found = list(await session.scalars(query))
            for row in found:
                row.lease_owner = self.owner
                row.lease_until = now + LEASE
        return [Stored(r.update_id, r.chat_key, r.payload, attempts=r.attempts) for r in found]

    async def finish(self, session: AsyncSession, update_id: int) -> None:
        """Mark the update handled in the handler's own transaction; Superseded when another
        process has finished it first (then the transaction rolls back)."""
        result = await (await connection_of(session)).execute(
            _FINISH, {"b_update_id": update_id, "b_owner": self.owner, "b_now": datetime.now(UTC)}
        )
        if getattr(result, "rowcount", 0) != 1:
            raise Superseded(update_id)

    async def failed(self, stored: Stored, error: str, *, final: bool) -> None:
        """Note a failed attempt; after the last one the update is given up (kept, with why)."""
        values: dict[str, Any] = {"attempts": stored.attempts, "error": error[:4000]}
        if final:
            values.update(handled_at=datetime.now(UTC), lease_owner=None, lease_until=None)
        async with transaction(self.session_factory) as session:
            await session.execute(
                update(InboxUpdate)
                .where(InboxUpdate.update_id == stored.update_id)
                .values(**values)
                .execution_options(synchronize_session=False)
            )

    async def renew(self) -> None:
        """Keep the leases of the updates this process holds."""
        async with transaction(self.session_factory) as session:
            await session.execute(
                update(InboxUpdate)
                .where(InboxUpdate.lease_owner == self.owner, InboxUpdate.handled_at.is_(None))
                .values(lease_until=datetime.now(UTC) + LEASE)
                .execution_options(synchronize_session=False)
            )

    async def earlier_waiting(self, stored: Stored) -> bool:
        """Whether an earlier update of the same chat is still unhandled (by anyone)."""
        async with self.session_factory() as session:
            found = await session.scalar(
                select(func.count())
                .select_from(InboxUpdate)
                .where(
                    InboxUpdate.chat_key == stored.chat_key,
                    InboxUpdate.handled_at.is_(None),
                    InboxUpdate.update_id < stored.update_id,
                )
            )
        return bool(found)

    async def waiting(self) -> int:
        async with self.session_factory() as session:
            found = await session.scalar(
                select(func.count())
                .select_from(InboxUpdate)
                .where(InboxUpdate.handled_at.is_(None))
            )
        return int(found or 0)

    async def set_aside(self) -> int:
        """Updates kept but never handled: aiogram could not read them."""
        async with self.session_factory() as session:
            found = await session.scalar(
                select(func.count())
                .select_from(InboxUpdate)
                .where(InboxUpdate.error.startswith(UNREADABLE))
            )
        return int(found or 0)

    async def prune(self, now: datetime | None = None) -> int:
        """Forget handled updates once Telegram can no longer send them again."""
        moment = (now or datetime.now(UTC)) - KEPT
        async with transaction(self.session_factory) as session:
            result = await session.execute(
                delete(InboxUpdate).where(
                    InboxUpdate.handled_at.is_not(None), InboxUpdate.handled_at < moment
                )
            )
        return int(getattr(result, "rowcount", 0))


# --- how updates arrive ----------------------------------------------------------------------

# What takes the stored updates on: the runner's ``submit``.
Submit = Callable[[list[Stored]], None]

POLL_TIMEOUT = 25
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# While Telegram is away the poller asks again at least every 5 s: it is often the first to
# see Telegram back (``Reachability``), which lets the messages that waited go.
_BACKOFF = BackoffConfig(min_delay=1.0, max_delay=5.0, factor=1.5, jitter=0.1)


async def poll(
    bot: Bot,
    inbox: Inbox,
    submit: Submit,
    *,
    allowed_updates: list[str] | None,
    reach: Reachability | None = None,
    timeout: int = POLL_TIMEOUT,
) -> None:
    """Long-poll until cancelled. Each batch is in the inbox before the offset moves past it."""
    backoff = Backoff(config=_BACKOFF)
    offset: int | None = None
    request_timeout = int((bot.session.timeout or 60) + timeout)
    while True:
        method = RawUpdates(offset=offset, timeout=timeout, allowed_updates=allowed_updates)
        try:
            raw = await bot(method, request_timeout=request_timeout)
        except TelegramConflictError as error:
            log.error("another process takes this bot's updates (%s); retrying", error.message)
            await backoff.asleep()
            continue
        except TelegramUnauthorizedError:
            raise
        except TRANSIENT as error:
            if reach is not None:
                reach.failed()
            log.warning("getUpdates failed (%s: %s); retrying", type(error).__name__, error)
            await backoff.asleep()
            continue
        if reach is not None:
            reach.answered()
        backoff.reset()
        if not raw:
            continue
        arrived = [Arrived.read(int(item["update_id"]), json.dumps(item), bot) for item in raw]
        try:
            stored = await inbox.store(arrived)
        except Exception as error:  # noqa: BLE001 - not stored, so not confirmed
            # Telegram gives the same updates again.
            log.warning("could not store %s updates (%s); asking again",
                        len(arrived), type(error).__name__)  # fmt: skip
            await backoff.asleep()
            continue
        submit(stored)
        offset = arrived[-1].update_id + 1


def webhook_handler(
    bot: Bot, inbox: Inbox, submit: Submit, secret: str | None
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The webhook endpoint: a wrong secret gets 401, a body that is not an update 400; an
    update is stored, then answered 200 (one aiogram cannot read too: it is set aside)."""

    async def receive(request: web.Request) -> web.StreamResponse:
        given = request.headers.get(SECRET_HEADER, "")
        if secret is not None and not hmac.compare_digest(given.encode(), secret.encode()):
            return web.Response(status=401, text="wrong secret token")
        try:
            body = (await request.read()).decode("utf-8")
            item = json.loads(body)
        except (UnicodeDecodeError, ValueError):
            return web.Response(status=400, text="not an update: the body is not UTF-8 JSON")
        update_id = item.get("update_id") if isinstance(item, dict) else None
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            return web.Response(status=400, text="not an update: no update_id")
        try:
            stored = await inbox.store([Arrived.read(update_id, body, bot)])
        except Exception as error:  # noqa: BLE001 - not stored: Telegram sends it again
            log.warning("could not store update %s (%s)", update_id, type(error).__name__)
            return web.Response(status=503, text="not stored; send it again")
        submit(stored)
        return web.Response()

    return receive


async def renew_leases(inbox: Inbox, submit: Submit, every: float) -> None:
    """Keep this process's inbox leases while it works; take over lapsed ones of others."""
    while True:
        await asyncio.sleep(every)
        try:
            await inbox.renew()
            submit(await inbox.take_waiting(all_of_them=False))
        except Exception as error:  # noqa: BLE001 - tried again at the next turn
            log.warning("renewing inbox leases failed (%s)", type(error).__name__)
