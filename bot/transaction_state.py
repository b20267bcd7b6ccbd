"""What lives as long as one transaction, kept on its connection: rows it will write at its
commit (``bot.deferred``), reads it keeps (``bot.memo``).

Engine hooks see a connection, not a session, so the state hangs on the connection's ``info``
with the transaction it belongs to; a later transaction on the same pooled connection finds
none. The hooks judge statements by their SQL: what its first word says it does, and which
tables it names.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from sqlalchemy import Connection
from sqlalchemy.engine import RootTransaction
from sqlalchemy.ext.asyncio import AsyncSession


class TransactionState:
    """Something one transaction holds (subclassed); one of each kind per transaction."""

    def __init__(self, transaction: RootTransaction | None) -> None:
        self.transaction = transaction


State = TypeVar("State", bound=TransactionState)


def state_of(connection: Connection, kind: type[State]) -> State:
    """The open transaction's ``kind``, made on first use."""
    found = current_state(connection, kind)
    if found is None:
        found = connection.info[kind] = kind(connection.get_transaction())
    return found


async def state_in(session: AsyncSession, kind: type[State]) -> State:
    """``state_of`` the session's transaction."""
    connection = (await session.connection()).sync_connection
    assert connection is not None
    return state_of(connection, kind)


def current_state(connection: Connection, kind: type[State]) -> State | None:
    """The open transaction's ``kind`` if it has one (one left by an earlier one is dropped)."""
    found: State | None = connection.info.get(kind)
    if found is not None and found.transaction is not connection.get_transaction():
        del connection.info[kind]
        return None
    return found


def drop_state(connection: Connection, kind: type[TransactionState]) -> None:
    if connection.invalidated:  # lost with its transaction open: nothing of it is kept
        return
    connection.info.pop(kind, None)


def first_word(sql: str) -> str:
    """``SELECT``, ``INSERT``, ``UPDATE``... as the statement begins."""
    return sql.lstrip()[:6].upper()


def names_any(sql: str, tables: Iterable[str]) -> bool:
    """Whether the statement names any of the tables (a name inside another counts too:
    the callers only ever err towards doing more)."""
    return any(name in sql for name in tables)
