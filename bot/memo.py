"""What a transaction has read, kept for its next read of the same, until it writes what that
read depends on.

Under a burst the updates of a shared transaction (``bot.delivery.inbox.Shared``) each read
the mentors of a topic, the same rows each time but for what the transaction itself wrote
meanwhile, and who writes in which group, which the first of them reads for all
(``bot.domain.people.find_person_in_group``). ``Memo`` keeps such a read for the rest of the
transaction; it is forgotten as soon as the transaction runs any statement that could change
it: anything but a read or an insert, or an insert into one of the tables the read watches.
What it did insert that the read counts (messages waiting for a chat), the reader adds itself
(``Memo.written``, which the outbox keeps).

A memo sees the rows as the transaction first read them: changes other processes commit
meanwhile reach the next transaction, a few milliseconds later.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable
from typing import Any

from sqlalchemy import Connection, event
from sqlalchemy.engine import Engine, RootTransaction
from sqlalchemy.ext.asyncio import AsyncSession

from bot.transaction_state import (
    TransactionState,
    current_state,
    first_word,
    names_any,
    state_in,
    state_of,
)


class Memo(TransactionState):
    """The reads one transaction keeps, and the messages it wrote to each chat."""

    def __init__(self, transaction: RootTransaction | None) -> None:
        super().__init__(transaction)
        self.entries: dict[Hashable, Any] = {}
        self.watched: set[str] = set()
        self.written: Counter[int] = Counter()

    def get(self, key: Hashable) -> Any:
        return self.entries.get(key)

    def keep(self, key: Hashable, value: Any, *, watching: Iterable[str]) -> None:
        """Keep ``value`` until a statement inserts into one of the ``watching`` tables or
        changes anything otherwise."""
        self.entries[key] = value
        self.watched.update(watching)

    def changed_by(self, sql: str) -> bool:
        word = first_word(sql)
        if word == "SELECT":
            return False
        return word != "INSERT" or names_any(sql, self.watched)

    def forget(self) -> None:
        self.entries.clear()
        self.watched.clear()


def memo_on(connection: Connection) -> Memo:
    """The memo of the connection's transaction (a new one for a new transaction)."""
    return state_of(connection, Memo)


async def memo_of(session: AsyncSession) -> Memo:
    """The memo of the session's transaction."""
    return await state_in(session, Memo)


def install(engine: Engine) -> None:
    """Forget the memos' reads when their transaction changes what they read."""

    @event.listens_for(engine, "before_cursor_execute")
    def _before_cursor_execute(connection: Connection, _cursor: Any, sql: str, *_: Any) -> None:
        memo = current_state(connection, Memo)
        if memo is not None and memo.entries and memo.changed_by(sql):
            memo.forget()
