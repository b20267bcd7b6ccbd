"""tickets: indexes for what every request reads of its author's and its mentors' requests

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05 21:30:00

Every request counts its author's open requests and those of the last hour (the cap), and finds
when each of its mentors last took a request (matching). With an index of the author alone, and
of the assignee and status, these read every request the author filed or the mentor took; with
these three they read only what they count. The author's own index is covered and goes.
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
    op.create_index("ix_tickets_assignee_claimed", "tickets", ["assignee_id", "claimed_at"])


def downgrade() -> None:
    op.drop_index("ix_tickets_assignee_claimed", table_name="tickets")
    op.create_index("ix_tickets_author_id", "tickets", ["author_id"])
    op.drop_index("ix_tickets_author_created", table_name="tickets")
    op.drop_index("ix_tickets_author_status", table_name="tickets")
