"""people.capped_notice_at: when a person was last told they are over the requests cap

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 17:00:00

A person may have MAX_OPEN_REQUESTS open at a time and file REQUESTS_PER_HOUR an hour; a
request over that is not stored. They are told so once an hour, not for each request of a
burst: this is when.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "people", sa.Column("capped_notice_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    op.execute("ALTER TABLE people DROP COLUMN capped_notice_at")
