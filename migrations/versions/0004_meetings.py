"""meetings: conferences and ticket calls, their audience, RSVPs and reminders

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 10:53:34
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Telegram ids exceed 32 bits; SQLite autoincrements only a column typed exactly INTEGER.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.DateTime(timezone=True)

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MEETING_STATUS = sa.Enum(
    "scheduled", "cancelled", "done", name="meetingstatus", native_enum=False, length=16
)


def upgrade() -> None:
    op.create_table(
        "meetings",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("uid", sa.String(length=64), nullable=False),
        sa.Column("programme_id", ID, nullable=False),
        sa.Column("ticket_id", ID, nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("starts_at", TIME, nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("zone", sa.String(length=64), nullable=False),
        sa.Column("video_url", sa.String(length=512), nullable=False),
        sa.Column("status", MEETING_STATUS, nullable=False),
        sa.Column("created_by_id", ID, nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("cancelled_at", TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["people.id"],
            name=op.f("fk_meetings_created_by_id_people"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"],
            ["programmes.id"],
            name=op.f("fk_meetings_programme_id_programmes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_meetings_ticket_id_tickets"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meetings")),
        sa.UniqueConstraint("uid", name=op.f("uq_meetings_uid")),
    )
    with op.batch_alter_table("meetings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_meetings_created_by_id"), ["created_by_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_meetings_programme_id"), ["programme_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_meetings_starts_at"), ["starts_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_meetings_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_meetings_ticket_id"), ["ticket_id"], unique=False)

    op.create_table(
        "meeting_audiences",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("meeting_id", ID, nullable=False),
        sa.Column("group_id", ID, nullable=True),
        sa.Column("person_id", ID, nullable=True),
        sa.Column("announcement_message_id", ID, nullable=True),
        sa.CheckConstraint(
            "(group_id IS NULL) <> (person_id IS NULL)",
            name=op.f("ck_meeting_audiences_group_or_person"),
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["group_chats.id"],
            name=op.f("fk_meeting_audiences_group_id_group_chats"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings.id"],
            name=op.f("fk_meeting_audiences_meeting_id_meetings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_meeting_audiences_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting_audiences")),
        sa.UniqueConstraint(
            "meeting_id", "group_id", name=op.f("uq_meeting_audiences_meeting_id_group_id")
        ),
        sa.UniqueConstraint(
            "meeting_id", "person_id", name=op.f("uq_meeting_audiences_meeting_id_person_id")
        ),
    )
    with op.batch_alter_table("meeting_audiences", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_meeting_audiences_group_id"), ["group_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_meeting_audiences_meeting_id"), ["meeting_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_meeting_audiences_person_id"), ["person_id"], unique=False
        )

    op.create_table(
        "meeting_reminders",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("meeting_id", ID, nullable=False),
        sa.Column("offset_seconds", sa.Integer(), nullable=False),
        sa.Column("due_at", TIME, nullable=False),
        sa.Column("sent_at", TIME, nullable=True),
        sa.Column("skipped", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings.id"],
            name=op.f("fk_meeting_reminders_meeting_id_meetings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting_reminders")),
        sa.UniqueConstraint(
            "meeting_id",
            "offset_seconds",
            name=op.f("uq_meeting_reminders_meeting_id_offset_seconds"),
        ),
    )
    with op.batch_alter_table("meeting_reminders", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_meeting_reminders_meeting_id"), ["meeting_id"], unique=False
        )
        batch_op.create_index("ix_meeting_reminders_pending", ["sent_at", "due_at"], unique=False)

    op.create_table(
        "meeting_rsvps",
        sa.Column("meeting_id", ID, autoincrement=False, nullable=False),
        sa.Column("person_id", ID, autoincrement=False, nullable=False),
        sa.Column("coming", sa.Boolean(), nullable=False),
        sa.Column("answered_at", TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings.id"],
            name=op.f("fk_meeting_rsvps_meeting_id_meetings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_meeting_rsvps_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("meeting_id", "person_id", name=op.f("pk_meeting_rsvps")),
    )


def downgrade() -> None:
    op.drop_table("meeting_rsvps")
    with op.batch_alter_table("meeting_reminders", schema=None) as batch_op:
        batch_op.drop_index("ix_meeting_reminders_pending")
        batch_op.drop_index(batch_op.f("ix_meeting_reminders_meeting_id"))
    op.drop_table("meeting_reminders")
    with op.batch_alter_table("meeting_audiences", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_meeting_audiences_person_id"))
        batch_op.drop_index(batch_op.f("ix_meeting_audiences_meeting_id"))
        batch_op.drop_index(batch_op.f("ix_meeting_audiences_group_id"))
    op.drop_table("meeting_audiences")
    with op.batch_alter_table("meetings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_meetings_ticket_id"))
        batch_op.drop_index(batch_op.f("ix_meetings_status"))
        batch_op.drop_index(batch_op.f("ix_meetings_starts_at"))
        batch_op.drop_index(batch_op.f("ix_meetings_programme_id"))
        batch_op.drop_index(batch_op.f("ix_meetings_created_by_id"))
    op.drop_table("meetings")
