"""consents, held_requests; programmes' operator and notice; topics' health flag

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-12 10:00:00

A person consents to the programme's notice before their first request reaches a mentor, and
explicitly to the processing of data about their health before a request on a health topic
does. Everyone's data is kept; nobody is taken to have consented, so existing people are asked
at their next request. Rehabilitation and psychology are health topics from the start.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.DateTime(timezone=True)
_KIND = sa.Enum("general", "health", name="consentkind", native_enum=False, length=16)


def _owners(table: str) -> list[sa.ForeignKeyConstraint]:
    """The person and the programme a row belongs to: it goes with either."""
    return [
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f(f"fk_{table}_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"], ["programmes.id"], name=op.f(f"fk_{table}_programme_id_programmes"),
            ondelete="CASCADE",
        ),
    ]  # fmt: skip


def upgrade() -> None:
    # Columns added one by one: programmes and topics are not rebuilt on SQLite (the triggers
    # of 0013 would be lost).
    op.add_column("programmes", sa.Column("privacy_operator", sa.String(200), nullable=True))
    op.add_column("programmes", sa.Column("privacy_notice", sa.Text(), nullable=True))
    op.add_column(
        "programmes",
        sa.Column("notice_version", sa.Integer(), nullable=False, server_default="1"),
    )
    op.add_column(
        "topics", sa.Column("health", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.execute("UPDATE topics SET health = TRUE WHERE code IN ('rehabilitation', 'psychology')")
    op.create_table(
        "consents",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("person_id", ID, nullable=False),
        sa.Column("programme_id", ID, nullable=False),
        sa.Column("kind", _KIND, nullable=False),
        sa.Column("notice_version", ID, nullable=False),
        sa.Column("given", sa.Boolean(), nullable=False),
        sa.Column("at", TIME, nullable=False),
        *_owners("consents"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consents")),
    )
    op.create_index(
        "ix_consents_person_programme", "consents", ["person_id", "programme_id", "kind"]
    )
    op.create_table(
        "held_requests",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("person_id", ID, nullable=False),
        sa.Column("programme_id", ID, nullable=False),
        sa.Column("kind", _KIND, nullable=False),
        sa.Column("update_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        *_owners("held_requests"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_held_requests")),
    )
    op.create_index("ix_held_requests_person_id", "held_requests", ["person_id"])


def downgrade() -> None:
    op.drop_index("ix_held_requests_person_id", table_name="held_requests")
    op.drop_table("held_requests")
    op.drop_index("ix_consents_person_programme", table_name="consents")
    op.drop_table("consents")
    op.execute("ALTER TABLE topics DROP COLUMN health")
    op.execute("ALTER TABLE programmes DROP COLUMN notice_version")
    op.execute("ALTER TABLE programmes DROP COLUMN privacy_notice")
    op.execute("ALTER TABLE programmes DROP COLUMN privacy_operator")
