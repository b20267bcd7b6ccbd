"""Consultation topics: listing them and recognising them in what people type."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.errors import InvalidInput
from models import Topic


class UnknownTopics(InvalidInput):
    def __init__(self, words: Sequence[str]) -> None:
        super().__init__(", ".join(words))
        self.words = list(words)


async def list_topics(session: AsyncSession) -> list[Topic]:
    result = await session.execute(
        select(Topic).where(Topic.active.is_(True)).order_by(Topic.position, Topic.id)
    )
    return list(result.scalars())


def match_topic(topics: Sequence[Topic], word: str) -> Topic | None:
    """A topic named by its code or one of its hashtags, with or without '#'."""
    key = word.strip().lstrip("#").lower()
    if not key:
        return None
    for topic in topics:
        if key == topic.code or key in topic.hashtags:
            return topic
    return None


async def resolve_topics(session: AsyncSession, words: Sequence[str]) -> list[Topic]:
    """Topics for the given codes or hashtags, in order, without repeats.

    Raises ``UnknownTopics`` naming every word that matched nothing.
    """
    topics = await list_topics(session)
    found: list[Topic] = []
    unknown: list[str] = []
    for word in words:
        topic = match_topic(topics, word)
        if topic is None:
            unknown.append(word)
        elif topic not in found:
            found.append(topic)
    if unknown:
        raise UnknownTopics(unknown)
    return found
