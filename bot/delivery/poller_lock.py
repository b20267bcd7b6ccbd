"""Telegram lets one process take a bot's updates by long polling; this makes it the only one.

A second poller would be refused by Telegram now and then (409 Conflict), and meanwhile take
batches of updates the first one never sees, and on start it takes over every update left
unhandled in the inbox, as if their holder were gone. So a poller holds a lock for as long as
it runs: a session-level advisory lock on PostgreSQL, held by a connection of its own (and
let go by PostgreSQL when the process dies), or a lock on a file beside the SQLite database
(let go by the system when the process dies).
"""

from __future__ import annotations

import logging
from pathlib import Path

from filelock import FileLock, Timeout
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)

POLLING_LOCK = 0x4D44_504F_4C4C  # "MDPOLL"; the migrations' lock is another number

ANOTHER_POLLER = (
    "Another MentorDesk process already takes this bot's updates by long polling, on the same "
    "database ({where}). Telegram allows one poller per bot token: stop the other process "
    'first, or run several replicas in webhook mode (README, "Running at scale").'
)


class AnotherPoller(RuntimeError):
    """Another process polls for this database's bot; this one must not start."""


class PollerLock:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._connection: AsyncConnection | None = None
        self._file: FileLock | None = None

    @property
    def where(self) -> str:
        url = make_url(str(self.engine.url))
        if url.get_backend_name() == "sqlite":
            return f"lock file {self._lock_path()}"
        return f"PostgreSQL {url.host}:{url.port or 5432}/{url.database}"

    def _lock_path(self) -> Path | None:
        database = make_url(str(self.engine.url)).database
        if not database or database == ":memory:":
            return None  # a database only this process can see
        return Path(f"{database}.polling.lock")

    async def acquire(self) -> None:
        """Take the lock or raise ``AnotherPoller`` (with the message for the operator)."""
        if self.engine.dialect.name == "postgresql":
            connection = await self.engine.connect()
            try:
                got = await connection.scalar(
                    text("SELECT pg_try_advisory_lock(:key)"), {"key": POLLING_LOCK}
                )
                # The lock belongs to the session, not to this transaction.
                await connection.commit()
            except BaseException:
                await connection.close()
                raise
            if not got:
                await connection.close()
                raise AnotherPoller(ANOTHER_POLLER.format(where=self.where))
            self._connection = connection
            return
        path = self._lock_path()
        if path is None:
            return
        lock = FileLock(path, timeout=0)  # never waits: a file open and a flock
        try:
            lock.acquire()
        except Timeout as error:
            raise AnotherPoller(ANOTHER_POLLER.format(where=self.where)) from error
        self._file = lock

    async def release(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            try:
                await connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": POLLING_LOCK}
                )
                await connection.commit()
            except Exception:  # noqa: BLE001 - closing the session lets it go as well
                log.debug("could not release the polling lock", exc_info=True)
            finally:
                await connection.close()
        if self._file is not None:
            lock, self._file = self._file, None
            lock.release()
