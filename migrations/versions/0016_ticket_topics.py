"""each ticket a mentor takes, a topic of the mentor's private chat with the bot

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 10:00:00

Where the bot has topics in private chats (Bot API 9.3), a claimed ticket opens a topic in its
mentor's chat: the row notes the outbox row that opens it and, once Telegram has, its thread id.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Telegram ids exceed 32 bits; SQLite autoincrements only a column typed exactly INTEGER.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.DateTime(timezone=True)

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ticket_topics",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("ticket_id", ID, nullable=False),
        sa.Column("person_id", ID, nullable=False),
        sa.Column("chat_telegram_id", ID, nullable=False),
        sa.Column("outbox_id", ID, nullable=True),
        sa.Column("thread_id", ID, nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_ticket_topics_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_ticket_topics_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["outbox_id"],
            ["outbox_messages.id"],
            name=op.f("fk_ticket_topics_outbox_id_outbox_messages"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_topics")),
        sa.UniqueConstraint(
            "ticket_id", "person_id", name=op.f("uq_ticket_topics_ticket_id_person_id")
        ),
    )
    op.create_index("ix_ticket_topics_outbox_id", "ticket_topics", ["outbox_id"])
    op.create_index("ix_ticket_topics_thread", "ticket_topics", ["chat_telegram_id", "thread_id"])


def downgrade() -> None:
    op.drop_index("ix_ticket_topics_thread", table_name="ticket_topics")
    op.drop_index("ix_ticket_topics_outbox_id", table_name="ticket_topics")
    op.drop_table("ticket_topics")
