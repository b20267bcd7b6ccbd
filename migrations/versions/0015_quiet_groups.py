"""programmes.quiet_groups: in a group, what concerns one person goes to that person alone

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 16:10:00

On (the default, existing programmes included): acknowledgements, confirmations, refusals and
the rating request reach their person as ephemeral messages, and the request shows its state
as a reaction. Off: every reply is posted for the whole group, as before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "programmes",
        sa.Column("quiet_groups", sa.Boolean(), nullable=False, server_default=sa.true()),
    )


def downgrade() -> None:
    # Not in batch mode: rebuilding ``programmes`` would break the topics' triggers (0013),
    # which update it. SQLite drops a column itself since 3.35.
    op.execute("ALTER TABLE programmes DROP COLUMN quiet_groups")
