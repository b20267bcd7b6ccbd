"""topic examples: requests whose topic people confirmed or chose, per programme

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 02:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Telegram ids exceed 32 bits; SQLite autoincrements only a column typed exactly INTEGER.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "topic_examples",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("programme_id", ID, nullable=False),
        sa.Column("ticket_id", ID, nullable=False),
        sa.Column("topic_id", ID, nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("labelled_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["programme_id"],
            ["programmes.id"],
            name=op.f("fk_topic_examples_programme_id_programmes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_topic_examples_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["topic_id"],
            ["topics.id"],
            name=op.f("fk_topic_examples_topic_id_topics"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_topic_examples")),
        sa.UniqueConstraint("ticket_id", name=op.f("uq_topic_examples_ticket_id")),
    )
    with op.batch_alter_table("topic_examples") as batch_op:
        batch_op.create_index(
            batch_op.f("ix_topic_examples_programme_id"), ["programme_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("topic_examples") as batch_op:
        batch_op.drop_index(batch_op.f("ix_topic_examples_programme_id"))
    op.drop_table("topic_examples")
