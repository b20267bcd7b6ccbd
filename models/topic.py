"""Consultation topics: each programme's own, started from the defaults and edited by its
coordinators; data, never an enum."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class Topic(Base):
    """A topic of one programme. Codes are unique within the programme; so are hashtags (kept
    by ``bot.domain.topics``, a JSON list has no constraint). An archived topic (``active``
    false) is offered nowhere but keeps its tickets, mentors and figures."""

    __tablename__ = "topics"
    __table_args__ = (UniqueConstraint("programme_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    programme_id: Mapped[int] = mapped_column(
        ForeignKey("programmes.id", ondelete="CASCADE"), index=True
    )
    code: Mapped[str] = mapped_column(String(32))
    title_ru: Mapped[str] = mapped_column(String(100))
    title_en: Mapped[str] = mapped_column(String(100))
    title_pl: Mapped[str] = mapped_column(String(100))
    # Hashtags without '#', lower case: ["юрист", "legal", "prawnik"].
    hashtags: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Keywords and word stems, Russian and English, used to suggest a topic from free text.
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(default=True)
    # Requests on it tell of health, which their author consents to explicitly, once.
    health: Mapped[bool] = mapped_column(default=False, server_default=false())

    def title(self, language: str) -> str:
        """The title in the reader's language; Russian, the default, for any other."""
        return {"en": self.title_en, "pl": self.title_pl}.get(language, self.title_ru)


class TopicExample(Base):
    """A request whose topic a person confirmed or chose: what the programme's topic
    suggester learns from. One per request, holding its latest label."""

    __tablename__ = "topic_examples"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    programme_id: Mapped[int] = mapped_column(
        ForeignKey("programmes.id", ondelete="CASCADE"), index=True
    )
    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), unique=True
    )
    topic_id: Mapped[int] = mapped_column(ForeignKey("topics.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    # How the label came: "confirmed" (the suggestion was right), "corrected", "chosen" (picked
    # in the private dialogue).
    source: Mapped[str] = mapped_column(String(16))
    labelled_at: Mapped[datetime] = mapped_column(default=utcnow)
