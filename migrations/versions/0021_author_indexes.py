"""tickets: the author's requests indexed by status and by time, for the requests cap

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05 21:30:00

Every request counts its author's open requests and those of the last hour. With an index of
the author alone, each count read every request the author ever filed; these two read only the
ones counted. The author's own index is covered by them and goes.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_tickets_author_status", "tickets", ["author_id", "status"])
    op.create_index("ix_tickets_author_created", "tickets", ["author_id", "created_at"])
    op.drop_index("ix_tickets_author_id", table_name="tickets")


def downgrade() -> None:
    op.create_index("ix_tickets_author_id", "tickets", ["author_id"])
    op.drop_index("ix_tickets_author_created", table_name="tickets")
    op.drop_index("ix_tickets_author_status", table_name="tickets")
