"""tickets: requests, their attachments, history and messages; more topic keywords

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 09:31:44
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Telegram ids exceed 32 bits; SQLite autoincrements only a column typed exactly INTEGER.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.DateTime(timezone=True)

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TICKET_STATUS = sa.Enum(
    "open", "claimed", "resolved", "closed", "cancelled",
    name="ticketstatus", native_enum=False, length=16,
)  # fmt: skip
EVENT_KIND = sa.Enum(
    "created", "edited", "topic_set", "claimed", "mentor_message", "author_message",
    "reassigned", "resolved", "reopened", "rated", "commented", "cancelled", "closed",
    name="ticketeventkind", native_enum=False, length=16,
)  # fmt: skip
MESSAGE_KIND = sa.Enum(
    "ack", "card", "answer", "question", "rating",
    name="ticketmessagekind", native_enum=False, length=16,
)  # fmt: skip

topics = sa.table("topics", sa.column("code", sa.String), sa.column("keywords", sa.JSON))

# Stems added to the seeded keywords after measuring suggestions on tests/data/requests_ru.tsv
# (its ``tuning`` rows); downgrade removes exactly these, so none may repeat a seeded keyword.
EXTRA_KEYWORDS: dict[str, list[str]] = {
    "legal": [
        "некоммерческ",
        "нарушен",
        "штраф",
        "персональн",
        "егрюл",
        "перерегистр",
        "протокол",
        "собрани",
        "соглашени",
        "юридическ лиц",
        "ликвидир",
        "проверк",
        "проверяющ",
        "прокуратур",
        "разрешени",
        "авторск",
        "товарн знак",
        "оквэд",
        "паспорт",
        "гражданств",
        "трудов",
        "ответственност",
        "санкци",
        "оформ",
    ],
    "grants": [
        "эксперт",
        "деньг",
        "показател",
        "результативн",
        "календарн план",
        "вклад",
        "фандрайзинг",
        "грантодател",
        "отчитыва",
        "росмолодеж",
        "культурн инициатив",
    ],
    "psychology": [
        "выгор",
        "погиб",
        "утрат",
        "одинок",
        "одиночеств",
        "взаимопомощ",
        "мотивир",
        "чувств",
        "паник",
        "усталост",
        "напряжен",
        "суицид",
        "смысл",
        "птср",
        "психотерап",
        "плач",
        "слез",
        "истерик",
        "бессонниц",
        "боят",
        "испуг",
        "обстрел",
        "агресс",
        "алкогол",
        "пьет",
        "срыва",
        "переживан",
    ],
    "rehabilitation": [
        "лечебн",
        "физкультур",
        "эрготерап",
        "слабослыш",
        "сурдо",
        "тренажер",
        "логопед",
        "массаж",
        "лфк",
        "реабилитолог",
        "ортопед",
        "сколиоз",
        "диагност",
        "обследова",
        "инсульт",
        "сиделк",
        "лежач",
        "восстановлен",
        "контуз",
        "ранен",
        "позвоночн",
        "поликлиник",
        "больниц",
        "лекарств",
        "медик",
        "слухов",
    ],
    "business": [
        "бухгалтер",
        "бухучет",
        "упрощенк",
        "усн",
        "социальн контракт",
        "сво дел",
        "соцпредприят",
        "ценообразован",
        "ассортимент",
        "госзакуп",
        "тендер",
        "продава",
        "кассов",
        "инвестор",
        "инвестиц",
        "конкурент",
        "прокат",
        "финансов модел",
        "лизинг",
        "прибыл",
        "реклам",
        "продвижен",
        "парикмахерск",
        "пекарн",
        "кофейн",
        "кондитерск",
        "ателье",
    ],
    "education": [
        "сборник",
        "практик",
        "стажировк",
        "слушател",
        "кружк",
        "кружок",
        "преподава",
        "тьютор",
        "учебн",
        "экзамен",
        "грамотност",
    ],
}


def upgrade() -> None:
    op.create_table(
        "tickets",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("programme_id", ID, nullable=False),
        sa.Column("group_id", ID, nullable=True),
        sa.Column("chat_telegram_id", ID, nullable=False),
        sa.Column("request_message_id", ID, nullable=False),
        sa.Column("author_id", ID, nullable=False),
        sa.Column("topic_id", ID, nullable=True),
        sa.Column("topic_confirmed", sa.Boolean(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", TICKET_STATUS, nullable=False),
        sa.Column("assignee_id", ID, nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("claimed_at", TIME, nullable=True),
        sa.Column("first_answer_at", TIME, nullable=True),
        sa.Column("resolved_at", TIME, nullable=True),
        sa.Column("closed_at", TIME, nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("rating_comment", sa.Text(), nullable=True),
        sa.Column("rated_at", TIME, nullable=True),
        sa.Column("claim_alerted_at", TIME, nullable=True),
        sa.Column("answer_reminded_at", TIME, nullable=True),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name=op.f("ck_tickets_rating_range")),
        sa.ForeignKeyConstraint(
            ["assignee_id"],
            ["people.id"],
            name=op.f("fk_tickets_assignee_id_people"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["people.id"],
            name=op.f("fk_tickets_author_id_people"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["group_chats.id"],
            name=op.f("fk_tickets_group_id_group_chats"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"],
            ["programmes.id"],
            name=op.f("fk_tickets_programme_id_programmes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["topic_id"],
            ["topics.id"],
            name=op.f("fk_tickets_topic_id_topics"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tickets")),
        sa.UniqueConstraint(
            "chat_telegram_id",
            "request_message_id",
            name=op.f("uq_tickets_chat_telegram_id_request_message_id"),
        ),
    )
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tickets_assignee_id"), ["assignee_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_tickets_author_id"), ["author_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_tickets_group_id"), ["group_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_tickets_programme_id"), ["programme_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_tickets_status"), ["status"], unique=False)

    op.create_table(
        "ticket_events",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("ticket_id", ID, nullable=False),
        sa.Column("kind", EVENT_KIND, nullable=False),
        sa.Column("actor_id", ID, nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["people.id"],
            name=op.f("fk_ticket_events_actor_id_people"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_ticket_events_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_events")),
    )
    with op.batch_alter_table("ticket_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ticket_events_actor_id"), ["actor_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ticket_events_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_ticket_events_ticket_id"), ["ticket_id"], unique=False)

    op.create_table(
        "ticket_messages",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("ticket_id", ID, nullable=False),
        sa.Column("kind", MESSAGE_KIND, nullable=False),
        sa.Column("chat_telegram_id", ID, nullable=False),
        sa.Column("message_id", ID, nullable=False),
        sa.Column("person_id", ID, nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_ticket_messages_person_id_people"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_ticket_messages_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_messages")),
        sa.UniqueConstraint(
            "chat_telegram_id",
            "message_id",
            name=op.f("uq_ticket_messages_chat_telegram_id_message_id"),
        ),
    )
    with op.batch_alter_table("ticket_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ticket_messages_ticket_id"), ["ticket_id"], unique=False
        )

    op.create_table(
        "ticket_attachments",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("ticket_id", ID, nullable=False),
        sa.Column("event_id", ID, nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("file_id", sa.String(length=255), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["ticket_events.id"],
            name=op.f("fk_ticket_attachments_event_id_ticket_events"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_ticket_attachments_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_attachments")),
    )
    with op.batch_alter_table("ticket_attachments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ticket_attachments_ticket_id"), ["ticket_id"], unique=False
        )

    op.create_table(
        "unreachable_mentors",
        sa.Column("person_id", ID, autoincrement=False, nullable=False),
        sa.Column("programme_id", ID, autoincrement=False, nullable=False),
        sa.Column("reported_at", TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_unreachable_mentors_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"],
            ["programmes.id"],
            name=op.f("fk_unreachable_mentors_programme_id_programmes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("person_id", "programme_id", name=op.f("pk_unreachable_mentors")),
    )
    _change_keywords(add=True)


def downgrade() -> None:
    _change_keywords(add=False)
    op.drop_table("unreachable_mentors")
    with op.batch_alter_table("ticket_attachments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ticket_attachments_ticket_id"))
    op.drop_table("ticket_attachments")
    with op.batch_alter_table("ticket_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ticket_messages_ticket_id"))
    op.drop_table("ticket_messages")
    with op.batch_alter_table("ticket_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ticket_events_ticket_id"))
        batch_op.drop_index(batch_op.f("ix_ticket_events_kind"))
        batch_op.drop_index(batch_op.f("ix_ticket_events_actor_id"))
    op.drop_table("ticket_events")
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tickets_status"))
        batch_op.drop_index(batch_op.f("ix_tickets_programme_id"))
        batch_op.drop_index(batch_op.f("ix_tickets_group_id"))
        batch_op.drop_index(batch_op.f("ix_tickets_author_id"))
        batch_op.drop_index(batch_op.f("ix_tickets_assignee_id"))
    op.drop_table("tickets")


def _change_keywords(*, add: bool) -> None:
    """Add (or take back) EXTRA_KEYWORDS, keeping whatever coordinators changed meanwhile."""
    connection = op.get_bind()
    for code, extra in EXTRA_KEYWORDS.items():
        current = connection.execute(
            sa.select(topics.c.keywords).where(topics.c.code == code)
        ).scalar_one_or_none()
        if current is None:
            continue
        if add:
            keywords = [*current, *(word for word in extra if word not in current)]
        else:
            keywords = [word for word in current if word not in extra]
        connection.execute(topics.update().where(topics.c.code == code).values(keywords=keywords))
