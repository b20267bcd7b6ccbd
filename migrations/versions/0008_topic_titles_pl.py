"""Polish titles and hashtags of the consultation topics

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 02:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrations.sqlite_rebuild import references_kept

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

topics = sa.table(
    "topics",
    sa.column("id", sa.Integer),
    sa.column("code", sa.String),
    sa.column("title_en", sa.String),
    sa.column("title_pl", sa.String),
    sa.column("hashtags", sa.JSON),
)

# The default topics in the words of Polish social-economy support centres (OWES), and the
# hashtags their members would type.
POLISH = {
    "legal": ("Kwestie prawne", ["prawnik", "prawo"]),
    "grants": ("Granty i konkursy", ["granty", "dotacje"]),
    "rehabilitation": ("Rehabilitacja i zdrowie", ["rehabilitacja", "zdrowie"]),
    "business": ("Wsparcie biznesu", ["biznes", "ekonomiaspołeczna", "przedsiębiorczość"]),
    "psychology": ("Pomoc psychologiczna", ["psycholog", "psychologia"]),
    "education": ("Edukacja i metodyka", ["edukacja", "szkolenia", "metodyka"]),
    "other": ("Inne", ["inne", "pytanie"]),
}


def upgrade() -> None:
    with op.batch_alter_table("topics") as batch_op:
        batch_op.add_column(sa.Column("title_pl", sa.String(length=100), nullable=True))
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(topics.c.id, topics.c.code, topics.c.title_en, topics.c.hashtags)
    ).all()
    # A hashtag names one topic: one a deployment already gave to another topic stays there.
    taken = {tag for row in rows for tag in row.hashtags or []}
    for row in rows:
        title, tags = POLISH.get(row.code, (row.title_en, []))
        added = [tag for tag in tags if tag not in taken]
        taken.update(added)
        connection.execute(
            topics.update()
            .where(topics.c.id == row.id)
            .values(title_pl=title, hashtags=[*(row.hashtags or []), *added])
        )
    # On SQLite this rebuilds the table: the mentors' topics and the tickets' must survive it.
    with (
        references_kept(cascaded=["role_topics"], nulled=[("tickets", "topic_id")]),
        op.batch_alter_table("topics") as batch_op,
    ):
        batch_op.alter_column("title_pl", existing_type=sa.String(length=100), nullable=False)


def downgrade() -> None:
    connection = op.get_bind()
    rows = connection.execute(sa.select(topics.c.id, topics.c.code, topics.c.hashtags)).all()
    for row in rows:
        if row.code in POLISH:
            polish_tags = POLISH[row.code][1]
            kept = [tag for tag in row.hashtags or [] if tag not in polish_tags]
            connection.execute(topics.update().where(topics.c.id == row.id).values(hashtags=kept))
    with (
        references_kept(cascaded=["role_topics"], nulled=[("tickets", "topic_id")]),
        op.batch_alter_table("topics") as batch_op,
    ):
        batch_op.drop_column("title_pl")
