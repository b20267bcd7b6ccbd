"""people.erased_at and tickets.erased_at: when a person's or a request's content was erased

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05 18:00:00

A person erased at their request (/forget) keeps their id, so every count stays, but names
are shown as erased; a request erased (with its author, or by the retention) is not erased
again by the daily retention job.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("people", sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("tickets", sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.execute("ALTER TABLE tickets DROP COLUMN erased_at")
    op.execute("ALTER TABLE people DROP COLUMN erased_at")
