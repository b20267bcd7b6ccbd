"""the durable delivery pipeline: inbox, outbox, leases, summary cards

Updates are stored in ``inbox_updates`` before Telegram is told they arrived (it replaces
``processed_updates``); messages go through ``outbox_messages``, sent by the one process that
holds the ``sender`` row of ``leases``; links to the bot's messages may wait for their
Telegram id (``outbox_id``); busy mentors get ``summary_cards``.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Telegram ids exceed 32 bits; SQLite autoincrements only a column typed exactly INTEGER.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.DateTime(timezone=True)

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OUTBOX_STATUS = sa.Enum(
    "pending",
    "sent",
    "failed",
    "dropped",
    name="outboxstatus",
    native_enum=False,
    length=16,
)


def upgrade() -> None:
    op.create_table(
        "outbox_messages",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("chat_id", ID, nullable=False),
        sa.Column("method", sa.String(length=24), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("file", sa.LargeBinary(), nullable=True),
        sa.Column("refers_to_id", ID, nullable=True),
        sa.Column("withdraw_unsent", sa.Boolean(), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("person_id", ID, nullable=True),
        sa.Column("record", sa.String(length=32), nullable=True),
        sa.Column("status", OUTBOX_STATUS, nullable=False),
        sa.Column("attempts", ID, nullable=False),
        sa.Column("not_before", TIME, nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", TIME, nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("sent_at", TIME, nullable=True),
        sa.Column("message_id", ID, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_outbox_messages_person_id_people"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["refers_to_id"],
            ["outbox_messages.id"],
            name=op.f("fk_outbox_messages_refers_to_id_outbox_messages"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_messages")),
    )
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbox_messages_waiting", ["status", "chat_id", "id"], unique=False
        )
        batch_op.create_index("ix_outbox_messages_sent_at", ["sent_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_outbox_messages_refers_to_id"), ["refers_to_id"], unique=False
        )

    op.create_table(
        "inbox_updates",
        sa.Column("update_id", ID, autoincrement=False, nullable=False),
        sa.Column("chat_key", ID, nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("received_at", TIME, nullable=False),
        sa.Column("attempts", ID, nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", TIME, nullable=True),
        sa.Column("handled_at", TIME, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("update_id", name=op.f("pk_inbox_updates")),
    )
    with op.batch_alter_table("inbox_updates", schema=None) as batch_op:
        batch_op.create_index(
            "ix_inbox_updates_waiting", ["handled_at", "chat_key", "update_id"], unique=False
        )

    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("until", TIME, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leases")),
    )

    with op.batch_alter_table("processed_updates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_processed_updates_processed_at"))
    op.drop_table("processed_updates")

    with op.batch_alter_table("ticket_messages", schema=None) as batch_op:
        batch_op.alter_column("message_id", existing_type=ID, nullable=True)
        batch_op.add_column(sa.Column("outbox_id", ID, nullable=True))
        batch_op.create_index(batch_op.f("ix_ticket_messages_outbox_id"), ["outbox_id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_ticket_messages_outbox_id_outbox_messages"),
            "outbox_messages",
            ["outbox_id"],
            ["id"],
            ondelete="SET NULL",
        )

    with op.batch_alter_table("meeting_audiences", schema=None) as batch_op:
        batch_op.add_column(sa.Column("announcement_outbox_id", ID, nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_meeting_audiences_announcement_outbox_id_outbox_messages"),
            "outbox_messages",
            ["announcement_outbox_id"],
            ["id"],
            ondelete="SET NULL",
        )

    op.create_table(
        "summary_cards",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("person_id", ID, nullable=False),
        sa.Column("chat_telegram_id", ID, nullable=False),
        sa.Column("outbox_id", ID, nullable=True),
        sa.Column("message_id", ID, nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("closed_at", TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["outbox_id"],
            ["outbox_messages.id"],
            name=op.f("fk_summary_cards_outbox_id_outbox_messages"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_summary_cards_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_summary_cards")),
    )
    with op.batch_alter_table("summary_cards", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_summary_cards_outbox_id"), ["outbox_id"])
        batch_op.create_index(batch_op.f("ix_summary_cards_person_id"), ["person_id"])

    op.create_table(
        "summary_card_entries",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("summary_id", ID, nullable=False),
        sa.Column("ticket_id", ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["summary_id"],
            ["summary_cards.id"],
            name=op.f("fk_summary_card_entries_summary_id_summary_cards"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_summary_card_entries_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_summary_card_entries")),
    )
    with op.batch_alter_table("summary_card_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_summary_card_entries_summary_id"), ["summary_id"])
        batch_op.create_index(batch_op.f("ix_summary_card_entries_ticket_id"), ["ticket_id"])


def downgrade() -> None:
    op.drop_table("summary_card_entries")
    op.drop_table("summary_cards")

    with op.batch_alter_table("meeting_audiences", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_meeting_audiences_announcement_outbox_id_outbox_messages"),
            type_="foreignkey",
        )
        batch_op.drop_column("announcement_outbox_id")

    # Links still waiting for their Telegram id cannot be kept without one.
    op.execute("DELETE FROM ticket_messages WHERE message_id IS NULL")
    with op.batch_alter_table("ticket_messages", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_ticket_messages_outbox_id_outbox_messages"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_ticket_messages_outbox_id"))
        batch_op.drop_column("outbox_id")
        batch_op.alter_column("message_id", existing_type=ID, nullable=False)

    op.create_table(
        "processed_updates",
        sa.Column("update_id", ID, autoincrement=False, nullable=False),
        sa.Column("processed_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("update_id", name=op.f("pk_processed_updates")),
    )
    with op.batch_alter_table("processed_updates", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_processed_updates_processed_at"), ["processed_at"], unique=False
        )

    op.drop_table("leases")
    op.drop_table("inbox_updates")
    op.drop_table("outbox_messages")
