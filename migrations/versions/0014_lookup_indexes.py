"""indexes for lookups that read a whole table, or all of a programme

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 19:30:00

A press on a summary card's button found the card by its chat and message with no index, and
a meeting's change (cancel, move, no-show) found its booking by ``meeting_id`` with none: each
read every card, or every booking, ever made. Matching, for every new request, went through
all the programme's mentors to find a topic's (``role_topics`` had no index by topic) and
counted each one's claimed requests among all claimed requests (an index by status alone):
``ix_tickets_assignee_status`` takes the place of ``ix_tickets_assignee_id``.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain CREATE INDEX: SQLite adds an index in place, with no batch rebuild of the table.
    op.create_index("ix_summary_cards_message", "summary_cards", ["chat_telegram_id", "message_id"])
    op.create_index("ix_bookings_meeting_id", "bookings", ["meeting_id"])
    op.create_index("ix_role_topics_topic_id", "role_topics", ["topic_id"])
    op.create_index("ix_tickets_assignee_status", "tickets", ["assignee_id", "status"])
    op.drop_index("ix_tickets_assignee_id", table_name="tickets")


def downgrade() -> None:
    op.create_index("ix_tickets_assignee_id", "tickets", ["assignee_id"])
    op.drop_index("ix_tickets_assignee_status", table_name="tickets")
    op.drop_index("ix_role_topics_topic_id", table_name="role_topics")
    op.drop_index("ix_bookings_meeting_id", table_name="bookings")
    op.drop_index("ix_summary_cards_message", table_name="summary_cards")
