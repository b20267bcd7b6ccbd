"""Suggesting a request's topic: a hashtag names it; else a model of examples suggests one.

The model (``bot.domain.topic_model``) is a logistic regression over TF-IDF of word stems and
of character n-grams, the mean of the words' Russian vectors (navec's 250K-word embeddings,
shipped inside the natasha package), and how many words each topic's keywords match. It learns
from the Russian examples shipped here, each topic's keywords and titles, and above all the
programme's own labelled requests: every confirmation or correction of a topic is one
(``TopicExample``). When no topic is likely, it says so, and the bot asks instead of guessing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.domain.topic_text import CYRILLIC, keyword_hits, normalize, tokens
from bot.domain.topics import match_topic
from models import Topic

if TYPE_CHECKING:
    from bot.domain.topic_model import TopicModel

_HASHTAG = re.compile(r"(?<![\w#])#(\w{1,64})", re.UNICODE)


@dataclass(frozen=True)
class Suggestion:
    topic: Topic | None
    score: int = 0  # how many words of the text the topic's keywords matched
    matched: tuple[str, ...] = field(default=())


def hashtag_topic(topics: Sequence[Topic], text: str) -> Topic | None:
    """The topic named by the first of the text's hashtags that names one."""
    for tag in _HASHTAG.findall(text):
        topic = match_topic(topics, tag)
        if topic is not None:
            return topic
    return None


def keyword_topic(topics: Sequence[Topic], text: str) -> Suggestion | None:
    """The topic whose keywords cover most words of the text, if any keyword matches.

    Each word counts once per topic. Between topics covering as many words, the longer
    matches win (a long stem such as "реабилитац" says more than "цен"), then the topic
    matched earlier in the text.
    """
    words = tokens(text)
    best: Suggestion | None = None
    best_rank: tuple[int, int, int] = (0, 0, 0)
    for topic in topics:
        hits = keyword_hits(topic.keywords, words)
        if not hits:
            continue
        rank = (len(hits), sum(hits.values()), -min(hits))
        if best is None or rank > best_rank:
            best = Suggestion(topic, len(hits), tuple(words[i].word for i in sorted(hits)))
            best_rank = rank
    return best


def suggest_topic(topics: Sequence[Topic], text: str, model: TopicModel | None) -> Suggestion:
    """The model's likely topic (None: ask the author). The model knows Russian (its shipped
    examples and word vectors are), so text with no Russian in it goes by the keywords alone,
    and the author is asked when none matches; so does everything without a model."""
    if model is None or not CYRILLIC.search(normalize(text)):
        return keyword_topic(topics, text) or Suggestion(None)
    return Suggestion(model.suggest(topics, text))


def choose_topic(
    topics: Sequence[Topic], text: str, model: TopicModel | None
) -> tuple[Topic | None, bool]:
    """The request's topic and whether its author named it (by hashtag) or it is a guess;
    None when nothing is likely enough to guess."""
    named = hashtag_topic(topics, text)
    if named is not None:
        return named, True
    return suggest_topic(topics, text, model).topic, False
