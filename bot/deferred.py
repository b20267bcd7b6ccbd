"""Rows written at the end of their transaction, all of a table's in one statement.

Every request writes its ticket's first events and the links of its three messages: rows
that nothing reads back while the transaction is open. ``defer_insert`` keeps them on the
transaction's connection, and they are written when the transaction commits, one multi-row
insert per table for all the updates a transaction handles (``bot.delivery.inbox.Shared``):
on PostgreSQL two round trips for a turn of requests instead of two for each request.

Nothing can tell they were late. Before any statement that could see them or depend on them
(a read of their table, any update or delete, a savepoint or a rollback to one: anything but
an insert or a read that does not name their tables) they are written first; so a rollback,
of the transaction or to a savepoint, takes them with the rest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from sqlalchemy import Connection, Insert, Table, event, insert
from sqlalchemy.engine import Engine, RootTransaction
from sqlalchemy.ext.asyncio import AsyncSession

from bot.transaction_state import (
    TransactionState,
    current_state,
    drop_state,
    first_word,
    names_any,
    state_in,
)


class _Pending(TransactionState):
    """The rows a transaction has yet to write, by table, in the order they were deferred."""

    def __init__(self, transaction: RootTransaction | None) -> None:
        super().__init__(transaction)
        self.rows: dict[Table, list[dict[str, Any]]] = {}
        self.writing = False

    def add(self, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
        self.rows.setdefault(table, []).extend(dict(row) for row in rows)

    def seen_by(self, sql: str) -> bool:
        """Whether the statement could read, refer to or change what is pending: only an
        insert or a read that never names their tables could not."""
        return first_word(sql) not in ("INSERT", "SELECT") or names_any(
            sql, (table.name for table in self.rows)
        )

    def write(self, connection: Connection) -> None:
        self.writing = True
        try:
            while self.rows:
                table, rows = next(iter(self.rows.items()))
                del self.rows[table]
                connection.execute(_insert(table), rows)
        finally:
            self.writing = False


@cache
def _insert(table: Table) -> Insert:
    return insert(table)  # built once: compiled once


async def defer_insert(
    session: AsyncSession, table: Table, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Insert the rows when the session's transaction commits (or before anything could see
    them). Their ids are never known: for rows nothing refers to."""
    if not rows:
        return
    (await state_in(session, _Pending)).add(table, rows)


def install(engine: Engine) -> None:
    """Write or drop the deferred rows at the right moments on the engine's connections."""

    @event.listens_for(engine, "before_cursor_execute")
    def _before_cursor_execute(connection: Connection, _cursor: Any, sql: str, *_: Any) -> None:
        pending = current_state(connection, _Pending)
        if pending is not None and pending.rows and not pending.writing and pending.seen_by(sql):
            pending.write(connection)

    @event.listens_for(engine, "commit")
    def _commit(connection: Connection) -> None:
        pending = current_state(connection, _Pending)
        if pending is not None:
            pending.write(connection)
            drop_state(connection, _Pending)

    @event.listens_for(engine, "rollback")
    def _rollback(connection: Connection) -> None:
        drop_state(connection, _Pending)
