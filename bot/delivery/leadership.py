"""One process at a time holds a role (the outbox's sender), through a lease row.

The holder renews the lease well before it lapses and gives it up when it stops; if it dies,
the lease lapses and another process takes it over. The row works the same on SQLite and on
PostgreSQL; the holder's writes are also fenced by its name on the rows it claimed.
"""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import transaction
from models import Lease


def this_host() -> str:
    """The host part of a process's name: ``HOSTNAME`` where the environment sets it (a
    container's name), else the system's host name."""
    return (os.environ.get("HOSTNAME") or socket.gethostname())[:32]


def _gone(owner: str) -> bool:
    """Whether ``owner`` (``host:pid:random``, see ``bot.app.process_name``) is a process of
    this host that has ended. A process elsewhere, or one alive, is not known to be gone."""
    host, _sep, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != this_host() or not pid_text.isdigit() or int(pid_text) == os.getpid():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class Leadership:
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        name: str,
        owner: str,
        ttl: timedelta,
    ) -> None:
        self.session_factory = session_factory
        self.name = name
        self.owner = owner
        self.ttl = ttl

    async def hold(self) -> bool:
        """Take the lease, or renew it; False while another live process holds it."""
        now = datetime.now(UTC)
        try:
            async with transaction(self.session_factory) as session:
                result = await session.execute(
                    update(Lease)
                    .where(
                        Lease.name == self.name,
                        or_(Lease.owner == self.owner, Lease.until < now),
                    )
                    .values(owner=self.owner, until=now + self.ttl)
                    .execution_options(synchronize_session=False)
                )
                if getattr(result, "rowcount", 0) == 1:
                    return True
                held = await session.get(Lease, self.name)
                if held is None:
                    session.add(Lease(name=self.name, owner=self.owner, until=now + self.ttl))
                elif _gone(held.owner):
                    # Its holder was a process of this host that no longer runs: no need to
                    # wait for the lease to lapse (a bot killed and started again).
                    held.owner, held.until = self.owner, now + self.ttl
                else:
                    return False
        except IntegrityError:
            return False  # another process created it a moment earlier
        return True

    async def held_by_anyone(self) -> bool:
        """Whether some process holds the lease now (this one or another)."""
        async with self.session_factory() as session:
            held = await session.get(Lease, self.name)
        return held is not None and held.until > datetime.now(UTC)

    async def release(self) -> None:
        async with transaction(self.session_factory) as session:
            await session.execute(
                update(Lease)
                .where(Lease.name == self.name, Lease.owner == self.owner)
                .values(until=datetime.now(UTC))
                .execution_options(synchronize_session=False)
            )
