"""Batch-mode table rebuilds on SQLite that keep the rows referring to the rebuilt table.

SQLite cannot alter most of a table, so Alembic's batch mode copies it into a new one and
drops the old. With foreign keys on (the bot turns them on for every connection, and a PRAGMA
cannot turn them off inside the migration's transaction) that DROP deletes the rows referring
to it (``ON DELETE CASCADE``) and empties their references (``SET NULL``). ``references_kept``
reads them before the rebuild and puts them back after. PostgreSQL alters in place: nothing
to keep there.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op


@contextmanager
def references_kept(
    *, cascaded: Sequence[str] = (), nulled: Sequence[tuple[str, str]] = ()
) -> Iterator[None]:
    """Keep the rows of the ``cascaded`` tables and the references in the ``nulled``
    (table, column) pairs across a batch rebuild done inside the block."""
    connection = op.get_bind()
    if connection.dialect.name != "sqlite":
        yield
        return
    present = set(sa.inspect(connection).get_table_names())
    metadata = sa.MetaData()
    rows: dict[str, tuple[sa.Table, list[dict[str, object]]]] = {}
    for name in cascaded:
        if name in present:
            table = sa.Table(name, metadata, autoload_with=connection)
            rows[name] = (
                table,
                [dict(row) for row in connection.execute(sa.select(table)).mappings()],
            )
    references: list[tuple[sa.Table, str, list[dict[str, object]]]] = []
    for name, column in nulled:
        if name in present:
            table = sa.Table(name, metadata, autoload_with=connection)
            found = connection.execute(
                sa.select(table.c.id.label("row_id"), table.c[column].label("value")).where(
                    table.c[column].is_not(None)
                )
            ).mappings()
            references.append((table, column, [dict(row) for row in found]))
    yield
    for table, saved in rows.values():
        connection.execute(table.delete())
        if saved:
            connection.execute(table.insert(), saved)
    for table, column, saved in references:
        if saved:
            connection.execute(
                table.update()
                .where(table.c.id == sa.bindparam("row_id"))
                .values({column: sa.bindparam("value")}),
                saved,
            )
