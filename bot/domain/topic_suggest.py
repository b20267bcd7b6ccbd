"""Suggesting a request's topic: a hashtag names it; else a model of examples suggests one.

The model is scikit-learn's logistic regression over TF-IDF of word stems and of character
n-grams, the mean of the words' Russian vectors (navec's 250K-word embeddings, shipped inside
the natasha package), and how many words each topic's keywords match. It learns from the
Russian examples shipped here, each topic's keywords and titles, and above all the
programme's own labelled requests: every confirmation or correction of a topic is one
(``TopicExample``). When no topic is likely, it says so, and the bot asks instead of guessing.
"""

from __future__ import annotations

import csv
import importlib.util
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import snowballstemmer

from bot.domain.topics import match_topic
from models import Topic

if TYPE_CHECKING:
    from navec import Navec
    from sklearn.pipeline import Pipeline

# Keywords this long also match words they begin ("налог" in "налоговая"); shorter ones
# ("ано", "ип", "прав") must equal a word or its stem, or they would match half the language.
PREFIX_MIN = 4
# Labelled requests shipped beside this module (columns topic, text): the rows of
# tests/data/requests_ru.tsv, and nothing of the held-out sets beside it.
EXAMPLES = "topic_examples_ru.tsv"
# The model's settings, chosen by 5-fold cross-validation over the shipped examples alone.
REGULARISATION_C = 30.0
VECTOR_WEIGHT = 2.0  # the mean word vector's length beside the unit-length TF-IDF rows
KEYWORD_WEIGHT = 0.5  # per word a topic's keywords match (counted up to KEYWORD_CAP words)
KEYWORD_CAP = 3
# A programme's own labelled requests count this many times a shipped example.
OWN_EXAMPLE_WEIGHT = 3.0
# Below this probability the likeliest topic is no suggestion: the author is asked instead.
LIKELY = 0.3
WORD_VECTORS = "data/emb/navec_news_v1_1B_250K_300d_100q.tar"

_WORD = re.compile(r"\w+", re.UNICODE)
_HASHTAG = re.compile(r"(?<![\w#])#(\w{1,64})", re.UNICODE)
_CYRILLIC = re.compile(r"[а-я]")
_DIGITS = re.compile(r"\d+")


_stemmers = threading.local()  # a stemmer keeps the word it works on: one per thread


def _stemmer(language: str) -> snowballstemmer.Stemmer:
    found: dict[str, snowballstemmer.Stemmer] = _stemmers.__dict__.setdefault("by_language", {})
    if language not in found:
        found[language] = snowballstemmer.stemmer(language)
    return found[language]


def normalize(text: str) -> str:
    return text.lower().replace("ё", "е")


# Stemming is most of the model's work (pure Python), and requests repeat their words: each
# word is stemmed once per process.
STEMS_KEPT = 65536


@lru_cache(maxsize=STEMS_KEPT)
def _stem(word: str) -> str:
    language = "russian" if _CYRILLIC.search(word) else "english"
    return str(_stemmer(language).stemWord(word))


@lru_cache(maxsize=STEMS_KEPT)
def _forms(word: str) -> frozenset[str]:
    """The word with its Russian and English stems."""
    return frozenset({word, _stemmer("russian").stemWord(word), _stemmer("english").stemWord(word)})


@dataclass(frozen=True)
class _Token:
    word: str
    forms: frozenset[str]

    def matches(self, keyword: str) -> bool:
        return keyword in self.forms or (
            len(keyword) >= PREFIX_MIN and self.word.startswith(keyword)
        )


def tokens(text: str) -> list[_Token]:
    """The words of the text with their Russian and English stems."""
    return [
        _Token(word, _forms(word)) for word in _WORD.findall(normalize(text)) if not word.isdigit()
    ]


@dataclass(frozen=True)
class Suggestion:
    topic: Topic | None
    score: int = 0  # how many words of the text the topic's keywords matched
    matched: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class _Keyword:
    parts: tuple[str, ...]  # several parts for a phrase such as "мой бизнес"

    @classmethod
    def of(cls, text: str) -> _Keyword:
        return cls(tuple(normalize(text).replace("-", " ").split()))

    def starts_at(self, words: Sequence[_Token], start: int) -> bool:
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


def _keyword_hits(keywords: Iterable[str], words: Sequence[_Token]) -> dict[int, int]:
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


_vectors_lock = threading.Lock()


@cache
def _word_vectors() -> Navec:
    """navec's Russian word vectors, from the natasha package's own data (no download)."""
    from navec import Navec  # noqa: PLC0415 - about 100 MB: loaded with the first model

    spec = importlib.util.find_spec("natasha")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the natasha package (it ships the word vectors) is not installed")
    return Navec.load(str(Path(spec.submodule_search_locations[0]) / WORD_VECTORS))


def load_word_vectors() -> None:
    """Load the word vectors now (a second of work: in a worker thread, before they are
    needed), if scikit-learn's model is in use."""
    _word_vectors()


def _letters(text: str) -> str:
    """The text for character n-grams: numbers (dates, sums, years) say nothing of a topic."""
    return _DIGITS.sub(" ", normalize(text))


def _stems(text: str) -> list[str]:
    return [_stem(t.word) for t in tokens(text) if len(t.word) > 1]


def _mean_vectors(texts: Iterable[str]) -> Any:
    """Each text's mean word vector, scaled to ``VECTOR_WEIGHT`` (zeros without known words)."""
    import numpy as np  # noqa: PLC0415 - loaded with scikit-learn, in the training thread

    with _vectors_lock:
        vectors = _word_vectors()
    rows = []
    for text in texts:
        known = [vectors[w] for w in _WORD.findall(normalize(text)) if w in vectors]
        mean = np.mean(known, axis=0) if known else np.zeros(vectors.pq.dim, dtype=np.float32)
        length = float(np.linalg.norm(mean))
        rows.append(mean * (VECTOR_WEIGHT / length) if length else mean)
    return np.vstack(rows)


class _KeywordCounts:
    """For each text, how many of its words each topic's keywords match (capped). A class
    rather than a closure, so that a model trained in another process can be sent back."""

    def __init__(self, topics: Sequence[TopicTerms]) -> None:
        self.keywords = [topic.keywords for topic in topics]

    def __call__(self, texts: Iterable[str]) -> Any:
        import numpy as np  # noqa: PLC0415 - loaded with scikit-learn, with the first model

        rows = []
        for text in texts:
            words = tokens(text)
            rows.append(
                [
                    min(len(_keyword_hits(k, words)), KEYWORD_CAP) * KEYWORD_WEIGHT
                    for k in self.keywords
                ]
            )
        return np.array(rows, dtype=float).reshape(-1, len(self.keywords))


def _pipeline(topics: Sequence[TopicTerms]) -> Pipeline:
    # scikit-learn and SciPy take a second and about 80 MB: loaded with the first model.
    from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: PLC0415
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415
    from sklearn.pipeline import FeatureUnion, make_pipeline  # noqa: PLC0415
    from sklearn.preprocessing import FunctionTransformer  # noqa: PLC0415

    return make_pipeline(
        FeatureUnion(
            [
                ("stems", TfidfVectorizer(analyzer=_stems, sublinear_tf=True)),
                (
                    "chars",
                    TfidfVectorizer(
                        analyzer="char_wb",
                        ngram_range=(3, 5),
                        sublinear_tf=True,
                        preprocessor=_letters,
                    ),
                ),
                ("vectors", FunctionTransformer(_mean_vectors)),
                ("keywords", FunctionTransformer(_KeywordCounts(topics))),
            ]
        ),
        LogisticRegression(C=REGULARISATION_C, max_iter=3000),
    )


class TopicModel:
    """Which topic a text is about, with how likely; see the module's description."""

    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline

    @classmethod
    def train(cls, topics: Sequence[TopicTerms], examples: Iterable[Example]) -> TopicModel:
        """Learn the topics from the examples of those topics and from each topic's words.

        Slow (a fraction of a second, longer the first time): run it in a worker thread.
        """
        codes = {topic.code for topic in topics}
        texts, labels, weights = [], [], []
        for example in examples:
            if example.topic in codes:
                texts.append(example.text)
                labels.append(example.topic)
                weights.append(example.weight)
        for topic in topics:
            if topic.words:  # so that a topic with no example yet is learnt too
                texts.append(" ".join(topic.words))
                labels.append(topic.code)
                weights.append(1.0)
        if len(set(labels)) < 2:
            raise ValueError("a model needs at least two topics with words or examples")
        pipeline = _pipeline(topics)
        pipeline.fit(texts, labels, logisticregression__sample_weight=weights)
        return cls(pipeline)

    def likeliest(self, text: str) -> tuple[str, float] | None:
        """The likeliest topic's code and its probability; None for text with nothing the
        model has seen (no known stem, character sequence or word), which it cannot place."""
        features = self._pipeline[0].transform([text])
        if not features.nnz:
            return None
        probabilities = self._pipeline[-1].predict_proba(features)[0]
        best = int(probabilities.argmax())
        return str(self._pipeline.classes_[best]), float(probabilities[best])

    def suggest(self, topics: Sequence[Topic], text: str) -> Topic | None:
        """The likeliest of the topics, or None when none is likely enough to suggest."""
        found = self.likeliest(text)
        if found is None or found[1] < LIKELY:
            return None
        return next((topic for topic in topics if topic.code == found[0]), None)


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
        hits = _keyword_hits(topic.keywords, words)
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
    if model is None or not _CYRILLIC.search(normalize(text)):
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
