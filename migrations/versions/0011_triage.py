"""triage: a programme may send new requests to general consultants first

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 05:00:00

``programmes.triage`` switches "general, then specialist" on; ``tickets.triage`` marks a request
that went to the general consultants first and ``tickets.escalated_at`` when one of them passed
it to a topic's specialists. Existing programmes and requests start without triage.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = sa.DateTime(timezone=True)
# A literal default ('0' is false for SQLite and PostgreSQL alike) lets SQLite add the columns
# in place; an expression default would make batch mode rebuild the tables.
FALSE = "0"


def upgrade() -> None:
    with op.batch_alter_table("programmes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("triage", sa.Boolean(), nullable=False, server_default=FALSE))
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("triage", sa.Boolean(), nullable=False, server_default=FALSE))
        batch_op.add_column(sa.Column("escalated_at", TIME, nullable=True))


def downgrade() -> None:
    # Not in batch mode: SQLite (3.35 and later) drops a plain column in place, where a batch
    # rebuild of ``tickets`` would cascade into every table that refers to it.
    op.drop_column("tickets", "escalated_at")
    op.drop_column("tickets", "triage")
    op.drop_column("programmes", "triage")
