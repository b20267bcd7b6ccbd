"""What the topic suggester reads: a request's words (normalised, stemmed, matched against a
topic's keywords) and the labelled texts a model learns from.

Plain Python only, and nothing of the database: the bot imports it at start, and the training
process (``bot.domain.topic_training``) too, which must not load SQLAlchemy or the models.
"""

from __future__ import annotations

import csv
import json
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import snowballstemmer

    from models import Topic

# Keywords this long also match words they begin ("налог" in "налоговая"); shorter ones
# ("ано", "ип", "прав") must equal a word or its stem, or they would match half the language.
PREFIX_MIN = 4
# Labelled requests shipped beside this module (columns topic, text): the rows of
# tests/data/requests_ru.tsv, and nothing of the held-out sets beside it.
EXAMPLES = "topic_examples_ru.tsv"
# A programme's own labelled requests count this many times a shipped example.
OWN_EXAMPLE_WEIGHT = 3.0

WORD = re.compile(r"\w+", re.UNICODE)
CYRILLIC = re.compile(r"[а-я]")
_DIGITS = re.compile(r"\d+")


_stemmers = threading.local()  # a stemmer keeps the word it works on: one per thread


def _stemmer(language: str) -> snowballstemmer.Stemmer:
    found: dict[str, snowballstemmer.Stemmer] = _stemmers.__dict__.setdefault("by_language", {})
    if language not in found:
        # Imported with the first request that has no hashtag (it loads the stemmers of every
        # language it knows, about 3 MiB): not by a bot at rest.
        import snowballstemmer  # noqa: PLC0415

        found[language] = snowballstemmer.stemmer(language)
    return found[language]


def normalize(text: str) -> str:
    return text.lower().replace("ё", "е")


# Stemming is most of the model's work (pure Python), and requests repeat their words: each
# word is stemmed once per process.
STEMS_KEPT = 65536


@lru_cache(maxsize=STEMS_KEPT)
def _stem(word: str) -> str:
    language = "russian" if CYRILLIC.search(word) else "english"
    return str(_stemmer(language).stemWord(word))


@lru_cache(maxsize=STEMS_KEPT)
def _forms(word: str) -> frozenset[str]:
    """The word with its Russian and English stems."""
    return frozenset({word, _stemmer("russian").stemWord(word), _stemmer("english").stemWord(word)})


@dataclass(frozen=True)
class Token:
    word: str
    forms: frozenset[str]

    def matches(self, keyword: str) -> bool:
        return keyword in self.forms or (
            len(keyword) >= PREFIX_MIN and self.word.startswith(keyword)
        )


def tokens(text: str) -> list[Token]:
    """The words of the text with their Russian and English stems."""
    return [
        Token(word, _forms(word)) for word in WORD.findall(normalize(text)) if not word.isdigit()
    ]


def stems(text: str) -> list[str]:
    """The text's words of two letters or more, stemmed: the model's first features."""
    return [_stem(t.word) for t in tokens(text) if len(t.word) > 1]


def letters(text: str) -> str:
    """The text for character n-grams: numbers (dates, sums, years) say nothing of a topic."""
    return _DIGITS.sub(" ", normalize(text))


@dataclass(frozen=True)
class _Keyword:
    parts: tuple[str, ...]  # several parts for a phrase such as "мой бизнес"

    @classmethod
    def of(cls, text: str) -> _Keyword:
        return cls(tuple(normalize(text).replace("-", " ").split()))

    def starts_at(self, words: Sequence[Token], start: int) -> bool:
        """Whether the keyword (or its phrase) starts at this word of the text."""
        return start + len(self.parts) <= len(words) and all(
            words[start + i].matches(part) for i, part in enumerate(self.parts)
        )


@lru_cache(maxsize=4096)
def _keyword_index(keywords: tuple[str, ...]) -> dict[str, tuple[_Keyword, ...]]:
    """A topic's keywords by their first part: a text is then matched word by word, looking
    up each word's forms and its prefixes, instead of trying every keyword at every word."""
    index: dict[str, set[_Keyword]] = {}
    for text in keywords:
        keyword = _Keyword.of(text)
        if keyword.parts:
            index.setdefault(keyword.parts[0], set()).add(keyword)
    return {first: tuple(found) for first, found in index.items()}


def keyword_hits(keywords: Iterable[str], words: Sequence[Token]) -> dict[int, int]:
    """Word index -> length of the longest keyword part matching that word."""
    index = _keyword_index(tuple(keywords))
    hits: dict[int, int] = {}
    for start, token in enumerate(words):
        # A part matches a word equal to one of its forms, or, when long enough, a word it
        # begins: so these are the only first parts that can match here.
        firsts = set(token.forms)
        firsts.update(token.word[:n] for n in range(PREFIX_MIN, len(token.word) + 1))
        for first in firsts:
            for keyword in index.get(first, ()):
                if not keyword.starts_at(words, start):
                    continue
                for offset, part in enumerate(keyword.parts):
                    hits[start + offset] = max(hits.get(start + offset, 0), len(part))
    return hits


@dataclass(frozen=True)
class Example:
    """A request labelled with its topic's code; the programme's own count more."""

    topic: str
    text: str
    weight: float = 1.0


@cache
def shipped_examples() -> tuple[Example, ...]:
    text = resources.files(__package__ or "bot.domain").joinpath(EXAMPLES).read_text("utf-8")
    rows = csv.DictReader(text.splitlines(), delimiter="\t")
    return tuple(Example(row["topic"], row["text"]) for row in rows)


@dataclass(frozen=True)
class TopicTerms:
    """What the model knows of a topic besides examples: its code, keywords and titles."""

    code: str
    keywords: tuple[str, ...]
    titles: tuple[str, ...]

    @classmethod
    def of(cls, topic: Topic) -> TopicTerms:
        titles = (topic.title_ru, topic.title_en, topic.title_pl)
        return cls(
            topic.code,
            tuple(k for k in topic.keywords if k.strip()),
            tuple(t for t in titles if t and t.strip()),
        )

    @property
    def words(self) -> tuple[str, ...]:
        return (*self.keywords, *self.titles)


def terms_of(topics: Sequence[Topic]) -> tuple[TopicTerms, ...]:
    return tuple(TopicTerms.of(topic) for topic in topics)


@dataclass(frozen=True)
class TrainingSet:
    """What a model is trained on, as the training process reads it (JSON on its stdin)."""

    topics: tuple[TopicTerms, ...]
    examples: tuple[Example, ...]

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), ensure_ascii=False).encode()

    @classmethod
    def from_json(cls, data: bytes) -> TrainingSet:
        found = json.loads(data)
        return cls(
            tuple(
                TopicTerms(t["code"], tuple(t["keywords"]), tuple(t["titles"]))
                for t in found["topics"]
            ),
            tuple(Example(e["topic"], e["text"], e["weight"]) for e in found["examples"]),
        )
