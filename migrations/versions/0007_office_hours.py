"""mentors' office hours, days off and bookings

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 00:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Telegram ids exceed 32 bits; SQLite autoincrements only a column typed exactly INTEGER.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.DateTime(timezone=True)

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BOOKING_STATUS = sa.Enum(
    "booked", "cancelled", "no_show", name="bookingstatus", native_enum=False, length=16
)


def upgrade() -> None:
    op.create_table(
        "office_hours",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("person_id", ID, nullable=False),
        sa.Column("weekday", ID, nullable=False),
        sa.Column("starts_minute", ID, nullable=False),
        sa.Column("ends_minute", ID, nullable=False),
        sa.Column("slot_minutes", ID, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.CheckConstraint("weekday BETWEEN 0 AND 6", name=op.f("ck_office_hours_weekday")),
        sa.CheckConstraint("starts_minute < ends_minute", name=op.f("ck_office_hours_stretch")),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_office_hours_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_office_hours")),
    )
    with op.batch_alter_table("office_hours") as batch_op:
        batch_op.create_index(batch_op.f("ix_office_hours_person_id"), ["person_id"], unique=False)
    op.create_table(
        "office_hours_off",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("person_id", ID, nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_office_hours_off_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_office_hours_off")),
    )
    with op.batch_alter_table("office_hours_off") as batch_op:
        batch_op.create_index(
            batch_op.f("ix_office_hours_off_person_id"), ["person_id"], unique=False
        )
    op.create_table(
        "bookings",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("ticket_id", ID, nullable=False),
        sa.Column("mentor_id", ID, nullable=False),
        sa.Column("activist_id", ID, nullable=False),
        sa.Column("meeting_id", ID, nullable=True),
        sa.Column("starts_at", TIME, nullable=False),
        sa.Column("ends_at", TIME, nullable=False),
        sa.Column("status", BOOKING_STATUS, nullable=False),
        sa.Column("live", sa.Boolean(), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_bookings_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["mentor_id"], ["people.id"], name=op.f("fk_bookings_mentor_id_people"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["activist_id"], ["people.id"], name=op.f("fk_bookings_activist_id_people"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"], ["meetings.id"], name=op.f("fk_bookings_meeting_id_meetings"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bookings")),
        sa.UniqueConstraint(
            "mentor_id", "starts_at", "live", name=op.f("uq_bookings_mentor_id_starts_at_live")
        ),
    )  # fmt: skip
    with op.batch_alter_table("bookings") as batch_op:
        batch_op.create_index(batch_op.f("ix_bookings_ticket_id"), ["ticket_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("bookings") as batch_op:
        batch_op.drop_index(batch_op.f("ix_bookings_ticket_id"))
    op.drop_table("bookings")
    with op.batch_alter_table("office_hours_off") as batch_op:
        batch_op.drop_index(batch_op.f("ix_office_hours_off_person_id"))
    op.drop_table("office_hours_off")
    with op.batch_alter_table("office_hours") as batch_op:
        batch_op.drop_index(batch_op.f("ix_office_hours_person_id"))
    op.drop_table("office_hours")
