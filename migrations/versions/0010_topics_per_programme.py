"""topics per programme: today's global topics become every existing programme's own

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 03:00:00

Each existing programme gets a copy of every topic; its tickets, its mentors' topics, its
topic examples and its pending invitations are pointed at its own copies, and the global rows
go. Codes become unique within a programme. Going down keeps one topic per code (the oldest
copy) and points everything back at it; with no programme at all, the defaults come back.
"""

from collections.abc import Sequence
from contextlib import AbstractContextManager

import sqlalchemy as sa
from alembic import op

from migrations.sqlite_rebuild import references_kept
from models.default_topics import DEFAULT_TOPICS

# Telegram ids exceed 32 bits; SQLite autoincrements only a column typed exactly INTEGER.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FIELDS = ("code", "title_ru", "title_en", "title_pl", "hashtags", "keywords", "position", "active")

topics = sa.table(
    "topics",
    sa.column("id", sa.Integer),
    sa.column("programme_id", sa.Integer),
    sa.column("code", sa.String),
    sa.column("title_ru", sa.String),
    sa.column("title_en", sa.String),
    sa.column("title_pl", sa.String),
    sa.column("hashtags", sa.JSON),
    sa.column("keywords", sa.JSON),
    sa.column("position", sa.Integer),
    sa.column("active", sa.Boolean),
)
programmes = sa.table("programmes", sa.column("id", sa.Integer))
roles = sa.table("roles", sa.column("id", sa.Integer), sa.column("programme_id", sa.Integer))
role_topics = sa.table(
    "role_topics", sa.column("role_id", sa.Integer), sa.column("topic_id", sa.Integer)
)
tickets = sa.table(
    "tickets",
    sa.column("id", sa.Integer),
    sa.column("programme_id", sa.Integer),
    sa.column("topic_id", sa.Integer),
)
examples = sa.table(
    "topic_examples",
    sa.column("programme_id", sa.Integer),
    sa.column("topic_id", sa.Integer),
)
invitations = sa.table(
    "invitations",
    sa.column("id", sa.Integer),
    sa.column("programme_id", sa.Integer),
    sa.column("topic_ids", sa.JSON),
)


def _references_kept() -> AbstractContextManager[None]:
    """The rows referring to topics, kept across a rebuild of the table on SQLite."""
    return references_kept(
        cascaded=("role_topics", "topic_examples"), nulled=[("tickets", "topic_id")]
    )


def _repoint(connection: sa.Connection, programme_id: int | None, old: int, new: int) -> None:
    """Point the references to topic ``old`` at ``new``: those of one programme, or all."""

    def of(table: sa.TableClause) -> list[sa.ColumnElement[bool]]:
        where = [table.c.topic_id == old]
        if programme_id is not None:
            where.append(table.c.programme_id == programme_id)
        return where

    connection.execute(tickets.update().where(*of(tickets)).values(topic_id=new))
    connection.execute(examples.update().where(*of(examples)).values(topic_id=new))
    their_roles = sa.select(roles.c.id)
    if programme_id is not None:
        their_roles = their_roles.where(roles.c.programme_id == programme_id)
    connection.execute(
        role_topics.update()
        .where(role_topics.c.topic_id == old, role_topics.c.role_id.in_(their_roles))
        .values(topic_id=new)
    )


def _repoint_invitations(
    connection: sa.Connection, programme_id: int | None, mapping: dict[int, int]
) -> None:
    query = sa.select(invitations.c.id, invitations.c.topic_ids)
    if programme_id is not None:
        query = query.where(invitations.c.programme_id == programme_id)
    for row in connection.execute(query).all():
        old = list(row.topic_ids or [])
        new = [mapping.get(topic_id, topic_id) for topic_id in old]
        if new != old:
            connection.execute(
                invitations.update().where(invitations.c.id == row.id).values(topic_ids=new)
            )


def upgrade() -> None:
    with _references_kept(), op.batch_alter_table("topics") as batch_op:
        batch_op.add_column(sa.Column("programme_id", ID, nullable=True))
        batch_op.drop_constraint("uq_topics_code", type_="unique")
        # NULLs differ from each other here: the global rows pass until they go, below.
        batch_op.create_unique_constraint(
            batch_op.f("uq_topics_programme_id_code"), ["programme_id", "code"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_topics_programme_id_programmes"),
            "programmes",
            ["programme_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_index(batch_op.f("ix_topics_programme_id"), ["programme_id"], unique=False)
    connection = op.get_bind()
    shared = connection.execute(
        sa.select(topics).where(topics.c.programme_id.is_(None)).order_by(topics.c.id)
    ).all()
    for programme_id in connection.execute(sa.select(programmes.c.id)).scalars().all():
        mapping: dict[int, int] = {}
        for row in shared:
            connection.execute(
                topics.insert().values(
                    programme_id=programme_id, **{name: getattr(row, name) for name in FIELDS}
                )
            )
            copy = connection.execute(
                sa.select(topics.c.id).where(
                    topics.c.programme_id == programme_id, topics.c.code == row.code
                )
            ).scalar_one()
            mapping[row.id] = copy
            _repoint(connection, programme_id, row.id, copy)
        _repoint_invitations(connection, programme_id, mapping)
    connection.execute(topics.delete().where(topics.c.programme_id.is_(None)))
    with _references_kept(), op.batch_alter_table("topics") as batch_op:
        batch_op.alter_column("programme_id", existing_type=ID, nullable=False)


def downgrade() -> None:
    with _references_kept(), op.batch_alter_table("topics") as batch_op:
        batch_op.drop_index(batch_op.f("ix_topics_programme_id"))
        batch_op.drop_constraint(
            batch_op.f("fk_topics_programme_id_programmes"), type_="foreignkey"
        )
        batch_op.drop_constraint(batch_op.f("uq_topics_programme_id_code"), type_="unique")
        batch_op.alter_column("programme_id", existing_type=ID, nullable=True)
    connection = op.get_bind()
    kept: dict[str, int] = {}
    mapping: dict[int, int] = {}
    for row in connection.execute(sa.select(topics.c.id, topics.c.code).order_by(topics.c.id)):
        if row.code not in kept:
            kept[row.code] = row.id
        else:
            mapping[row.id] = kept[row.code]
    for old, new in mapping.items():
        # Within a programme codes are unique, so no role ends up holding one topic twice.
        _repoint(connection, None, old, new)
    _repoint_invitations(connection, None, mapping)
    if mapping:
        connection.execute(topics.delete().where(topics.c.id.in_(list(mapping))))
    connection.execute(topics.update().values(programme_id=None))
    if not kept:
        op.bulk_insert(
            topics,
            [
                {**topic, "position": index, "active": True}
                for index, topic in enumerate(DEFAULT_TOPICS)
            ],
        )
    with _references_kept(), op.batch_alter_table("topics") as batch_op:
        batch_op.drop_column("programme_id")
        batch_op.create_unique_constraint("uq_topics_code", ["code"])
