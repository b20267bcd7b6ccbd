"""topics_version: a programme's count of changes to its topics, kept by the database

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 18:30:00

Every request reads its programme's active topics. A bot process keeps them in memory and
reads them again only when ``programmes.topics_version`` has moved, a column it reads anyway
with the group's programme. Triggers move it on every insert, update and delete of a topic,
whoever writes it: the bot, another replica, a migration or a coordinator's own SQL.

SQLite drops a table's triggers when batch mode rebuilds it: a later migration that alters
``topics`` in batch mode must create them again (``tests/test_topics.py`` fails otherwise).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BUMP = "UPDATE programmes SET topics_version = topics_version + 1 WHERE id = {row}.programme_id"
# A topic moved to another programme changes both programmes' lists.
BUMP_BOTH = (
    "UPDATE programmes SET topics_version = topics_version + 1 "
    "WHERE id = OLD.programme_id OR id = NEW.programme_id"
)

SQLITE_TRIGGERS = [
    f"CREATE TRIGGER topics_version_insert AFTER INSERT ON topics BEGIN {BUMP.format(row='NEW')}; "
    "END",
    f"CREATE TRIGGER topics_version_update AFTER UPDATE ON topics BEGIN {BUMP_BOTH}; END",
    f"CREATE TRIGGER topics_version_delete AFTER DELETE ON topics BEGIN {BUMP.format(row='OLD')}; "
    "END",
]
POSTGRESQL_TRIGGERS = [
    f"""
    CREATE FUNCTION topics_version() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            {BUMP.format(row="NEW")};
        ELSIF TG_OP = 'DELETE' THEN
            {BUMP.format(row="OLD")};
        ELSE
            {BUMP_BOTH};
        END IF;
        RETURN NULL;
    END
    $$
    """,
    "CREATE TRIGGER topics_version AFTER INSERT OR UPDATE OR DELETE ON topics "
    "FOR EACH ROW EXECUTE FUNCTION topics_version()",
]


def upgrade() -> None:
    with op.batch_alter_table("programmes", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("topics_version", sa.Integer(), nullable=False, server_default="0")
        )
    postgresql = op.get_bind().dialect.name == "postgresql"
    for statement in POSTGRESQL_TRIGGERS if postgresql else SQLITE_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER topics_version ON topics")
        op.execute("DROP FUNCTION topics_version()")
    else:
        for name in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER topics_version_{name}")
    op.drop_column("programmes", "topics_version")
