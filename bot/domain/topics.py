"""Consultation topics of a programme: listing them, recognising them in what people type, and
the coordinators' changes (add, rename, hashtags, keywords, archive, restore, reorder).

Every programme has its own topics, copied from ``DEFAULT_TOPICS`` when it is created. Codes
and hashtags name one topic within a programme: a code counts as a hashtag too (``#legal``), so
no hashtag of one active topic may be another active topic's code or hashtag. An archived topic
is offered nowhere (keyboards, hashtags, invitations) but keeps its tickets and figures.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import manager_of_class
from sqlalchemy.orm.util import identity_key

from bot.domain.errors import InvalidInput
from models import Programme, Topic
from models.default_topics import DEFAULT_TOPICS

MAX_TITLE = 100
MAX_CODE = 32
MAX_HASHTAGS = 10
MAX_KEYWORDS = 100
MAX_KEYWORD = 60
LANGUAGES = ("ru", "en", "pl")
# What Telegram counts as a hashtag after '#': letters, digits and '_'.
_TAG = re.compile(r"^\w+$", re.UNICODE)


class UnknownTopics(InvalidInput):
    def __init__(self, words: Sequence[str]) -> None:
        super().__init__(", ".join(words))
        self.words = list(words)


class BadTitle(InvalidInput):
    """An empty title, or one longer than ``MAX_TITLE``."""

    def __init__(self, empty: bool) -> None:
        super().__init__("empty title" if empty else "title too long")
        self.empty = empty


class BadTag(InvalidInput):
    """A code or hashtag that is not one word of letters, digits and '_' (or is too long)."""

    def __init__(self, tag: str) -> None:
        super().__init__(tag)
        self.tag = tag


class TagTaken(InvalidInput):
    """A code or hashtag another topic of the programme already answers to."""

    def __init__(self, tag: str, topic: Topic) -> None:
        super().__init__(tag)
        self.tag = tag
        self.topic = topic


class LastActiveTopic(InvalidInput):
    """Archiving it would leave the programme with no topic to offer."""


class TooMany(InvalidInput):
    def __init__(self, limit: int) -> None:
        super().__init__(str(limit))
        self.limit = limit


async def list_topics(
    session: AsyncSession, programme_id: int, *, archived: bool = False
) -> list[Topic]:
    """The programme's topics in their order: the active ones, or all with ``archived``."""
    query = _ALL_TOPICS if archived else _ACTIVE_TOPICS
    result = await session.execute(query, {"programme_id": programme_id})
    return list(result.scalars())


# Built once: every request reads its programme's topics.
_ALL_TOPICS = (
    select(Topic)
    .where(Topic.programme_id == bindparam("programme_id"))
    .order_by(Topic.position, Topic.id)
)
_ACTIVE_TOPICS = _ALL_TOPICS.where(Topic.active.is_(True))


class ActiveTopics:
    """Each programme's active topics, held by one bot process between requests.

    Every request needs them, and they seldom change. They are read again once the
    programme's ``topics_version`` has moved: database triggers move it whenever a topic is
    written, by whichever process, and it comes with the programme's row, which a request
    reads anyway. A change reaches the next request that reads the programme after its commit.
    """

    def __init__(self) -> None:
        self._held: dict[int, tuple[int, list[dict[str, Any]]]] = {}

    async def of(self, session: AsyncSession, programme: Programme) -> list[Topic]:
        """``list_topics(session, programme.id)``, as rows of this session."""
        held = self._held.get(programme.id)
        if held is not None and held[0] == programme.topics_version:
            return [_as_loaded(session, values) for values in held[1]]
        topics = await list_topics(session, programme.id)
        # The version read with the programme, before the topics: a change committed in
        # between is in the topics and moves the version past this one, so the next request
        # reads them again; older topics are never held under a newer version.
        self._held[programme.id] = (programme.topics_version, [_columns(t) for t in topics])
        return topics


def _columns(topic: Topic) -> dict[str, Any]:
    return {key: getattr(topic, key) for key in _TOPIC_COLUMNS}


def _as_loaded(session: AsyncSession, values: dict[str, Any]) -> Topic:
    """The topic as a query would have put it in the session: the row the session holds
    already (a mentor's topics come with their roles), else one built from the values with
    no attribute events. Its lists are its own: a change to one cannot reach the held values."""
    found = session.identity_map.get(identity_key(Topic, values["id"]))
    if found is not None:
        return found
    topic: Topic = _TOPIC_CLASS.new_instance()
    topic.__dict__.update(
        values, hashtags=list(values["hashtags"]), keywords=list(values["keywords"])
    )
    make_transient_to_detached(topic)
    session.add(topic)
    return topic


_TOPIC_CLASS = manager_of_class(Topic)
_TOPIC_COLUMNS = [column.key for column in Topic.__mapper__.column_attrs]


async def topics_by_id(
    session: AsyncSession, programme_ids: Sequence[int] | None
) -> dict[int, Topic]:
    """Every topic of these programmes (None: of all), archived ones too: for lists and
    figures of tickets whose topic may since have been archived."""
    query = select(Topic)
    if programme_ids is not None:
        query = query.where(Topic.programme_id.in_(programme_ids))
    return {topic.id: topic for topic in (await session.execute(query)).scalars()}


async def get_topic(
    session: AsyncSession, programme_id: int, topic_id: int, *, archived: bool = False
) -> Topic | None:
    """The topic if it is one of the programme's (and active, unless ``archived``): what a
    button names is never trusted."""
    if not 0 < topic_id < 2**62:
        return None
    topic = await session.get(Topic, topic_id)
    if topic is None or topic.programme_id != programme_id or not (archived or topic.active):
        return None
    return topic


def match_topic(topics: Sequence[Topic], word: str) -> Topic | None:
    """A topic named by its code or one of its hashtags, with or without '#'."""
    key = word.strip().lstrip("#").lower()
    if not key:
        return None
    for topic in topics:
        if key == topic.code or key in topic.hashtags:
            return topic
    return None


async def resolve_topics(
    session: AsyncSession, programme_id: int, words: Sequence[str]
) -> list[Topic]:
    """The programme's active topics for the given codes or hashtags, in order, without
    repeats. Raises ``UnknownTopics`` naming every word that matched nothing."""
    topics = await list_topics(session, programme_id)
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


# Default topics whose requests tell of health (their authors consent to that explicitly);
# coordinators mark others with /privacy health.
HEALTH_CODES = frozenset({"rehabilitation", "psychology"})


def default_topics(programme_id: int = 0) -> list[Topic]:
    """New rows of the default topics for a programme (unsaved)."""
    return [
        Topic(
            programme_id=programme_id,
            code=default["code"],
            title_ru=default["title_ru"],
            title_en=default["title_en"],
            title_pl=default["title_pl"],
            hashtags=list(default["hashtags"]),
            keywords=list(default["keywords"]),
            position=position,
            active=True,
            health=default["code"] in HEALTH_CODES,
        )
        for position, default in enumerate(DEFAULT_TOPICS)
    ]


async def add_default_topics(session: AsyncSession, programme: Programme) -> None:
    """Give a new programme its own copy of the default topics."""
    session.add_all(default_topics(programme.id))
    await session.flush()


# --- coordinators' changes -------------------------------------------------------------------


def clean_title(text: str) -> str:
    title = " ".join(text.split())
    if not title:
        raise BadTitle(empty=True)
    if len(title) > MAX_TITLE:
        raise BadTitle(empty=False)
    return title


def clean_tag(word: str) -> str:
    """A code or hashtag as stored: lower case, without '#'."""
    tag = word.strip().lstrip("#").lower()
    if not tag or len(tag) > MAX_CODE or not _TAG.match(tag):
        raise BadTag(word.strip()[: MAX_CODE + 8])
    return tag


def _holder(topics: Sequence[Topic], tag: str, but: Topic | None) -> Topic | None:
    """The active topic other than ``but`` that answers to ``tag``."""
    return next(
        (
            topic
            for topic in topics
            if topic is not but and topic.active and (tag == topic.code or tag in topic.hashtags)
        ),
        None,
    )


async def add_topic(session: AsyncSession, programme_id: int, code: str, title: str) -> Topic:
    """A new active topic at the end of the list; its title serves every language until
    renamed, and its code is its first hashtag."""
    tag = clean_tag(code)
    cleaned = clean_title(title)
    topics = await list_topics(session, programme_id, archived=True)
    same_code = next((topic for topic in topics if topic.code == tag), None)
    if same_code is not None:
        raise TagTaken(tag, same_code)
    holder = _holder(topics, tag, None)
    if holder is not None:
        raise TagTaken(tag, holder)
    topic = Topic(
        programme_id=programme_id,
        code=tag,
        title_ru=cleaned,
        title_en=cleaned,
        title_pl=cleaned,
        hashtags=[tag],
        keywords=[],
        position=max((t.position for t in topics), default=-1) + 1,
        active=True,
    )
    session.add(topic)
    await session.flush()
    return topic


def rename_topic(topic: Topic, language: str, title: str) -> None:
    cleaned = clean_title(title)
    if language == "en":
        topic.title_en = cleaned
    elif language == "pl":
        topic.title_pl = cleaned
    else:
        topic.title_ru = cleaned


async def set_hashtags(session: AsyncSession, topic: Topic, words: Sequence[str]) -> list[str]:
    """Replace the topic's hashtags; refused (nothing changes) when one is malformed or
    another active topic of the programme answers to it."""
    tags: list[str] = []
    for word in words:
        tag = clean_tag(word)
        if tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_HASHTAGS:
        raise TooMany(MAX_HASHTAGS)
    topics = await list_topics(session, topic.programme_id, archived=True)
    for tag in tags:
        holder = _holder(topics, tag, topic)
        if holder is not None:
            raise TagTaken(tag, holder)
    topic.hashtags = tags
    return tags


def set_keywords(topic: Topic, text: str) -> list[str]:
    """Replace the topic's keywords: words or phrases separated by commas or new lines."""
    words: list[str] = []
    for part in re.split(r"[,;\n]", text):
        word = " ".join(part.split()).lower()
        if word and word not in words:
            if len(word) > MAX_KEYWORD:
                raise BadTag(word[:MAX_KEYWORD])
            words.append(word)
    if len(words) > MAX_KEYWORDS:
        raise TooMany(MAX_KEYWORDS)
    topic.keywords = words
    return words


async def archive_topics(session: AsyncSession, programme_id: int, chosen: Sequence[Topic]) -> None:
    """Archive the topics, or none of them when that would leave no active topic."""
    active = await list_topics(session, programme_id)
    if not [topic for topic in active if topic not in chosen]:
        raise LastActiveTopic(", ".join(topic.code for topic in chosen))
    for topic in chosen:
        topic.active = False


async def restore_topics(
    session: AsyncSession, programme_id: int, chosen: Sequence[Topic]
) -> list[str]:
    """Offer the topics again. One whose code an active topic answers to is refused as
    ``TagTaken`` and nothing changes. Hashtags that other topics took meanwhile stay with
    them: they are dropped from the restored topics and returned."""
    topics = await list_topics(session, programme_id, archived=True)
    for topic in chosen:
        holder = _holder(topics, topic.code, topic)
        if holder is not None:
            raise TagTaken(topic.code, holder)
    codes = {topic.code for topic in chosen}
    dropped: list[str] = []
    for topic in chosen:
        clashing = [
            tag
            for tag in topic.hashtags
            if _holder(topics, tag, topic) is not None or (tag in codes and tag != topic.code)
        ]
        if clashing:
            topic.hashtags = [tag for tag in topic.hashtags if tag not in clashing]
            dropped += clashing
        topic.active = True
    return dropped


async def move_topic(session: AsyncSession, topic: Topic, step: int) -> bool:
    """Move the topic one place up (``step`` -1) or down (+1) among all the programme's
    topics; False when it is already first or last."""
    topics = await list_topics(session, topic.programme_id, archived=True)
    index = topics.index(topic)
    other = index + step
    if not 0 <= other < len(topics):
        return False
    topics[index], topics[other] = topics[other], topics[index]
    for position, each in enumerate(topics):
        each.position = position
    return True
