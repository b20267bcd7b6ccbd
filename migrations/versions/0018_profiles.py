"""profiles: a person's town and organisation, for the register and the funders' report

Revision ID: 0018
Revises: 0017
Create Date: 2027-01-10 12:00:00

Asked once, after a person's first request, and skippable; ``/profile`` changes it. The
register (``/people``) and the report (``/report``) count people by these two answers.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "profiles",
        sa.Column(
            "person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("town", sa.String(length=100), nullable=True),
        sa.Column("organisation", sa.String(length=200), nullable=True),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("skipped", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_profiles_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_profiles")),
    )
    # The register and the report group people by these.
    op.create_index(op.f("ix_profiles_town"), "profiles", ["town"])


def downgrade() -> None:
    op.drop_index(op.f("ix_profiles_town"), table_name="profiles")
    op.drop_table("profiles")
