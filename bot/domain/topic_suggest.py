"""Suggesting a request's topic: hashtags first, then keywords, then a classifier of examples."""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources

import snowballstemmer

from bot.domain.topics import match_topic
from models import Topic

# The seeded catch-all topic, suggested when nothing in the text points to another topic.
FALLBACK_CODE = "other"
# Keywords this long also match words they begin ("налог" in "налоговая"); shorter ones
# ("ано", "ип", "прав") must equal a word or its stem, or they would match half the language.
PREFIX_MIN = 4
# Labelled requests shipped beside this module (columns topic, text): the ``tuning`` rows of
# tests/data/requests_ru.tsv, and nothing else, so that its ``fresh`` rows stay unseen.
EXAMPLES = "topic_examples_ru.tsv"
# Gradient descent for the classifier. Cross-validation on the examples gave the same accuracy
# for 50 to 1000 steps and L2 from 0 to 0.03, so these are simply cheap and stable.
TRAINING_STEPS = 100
LEARNING_RATE = 1.5
L2_PENALTY = 0.01

_WORD = re.compile(r"\w+", re.UNICODE)
_HASHTAG = re.compile(r"(?<![\w#])#(\w{1,64})", re.UNICODE)
_CYRILLIC = re.compile(r"[а-я]")


@cache
def _stemmer(language: str) -> snowballstemmer.Stemmer:
    return snowballstemmer.stemmer(language)


def normalize(text: str) -> str:
    return text.lower().replace("ё", "е")


def _stem(word: str) -> str:
    language = "russian" if _CYRILLIC.search(word) else "english"
    return str(_stemmer(language).stemWord(word))


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
    russian, english = _stemmer("russian"), _stemmer("english")
    result = []
    for word in _WORD.findall(normalize(text)):
        if word.isdigit():
            continue
        forms = frozenset({word, russian.stemWord(word), english.stemWord(word)})
        result.append(_Token(word, forms))
    return result


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

    def positions(self, words: Sequence[_Token]) -> list[int]:
        """Indexes of the words where the keyword (or its phrase) starts."""
        width = len(self.parts)
        return [
            start
            for start in range(len(words) - width + 1)
            if all(words[start + i].matches(part) for i, part in enumerate(self.parts))
        ]


def _keyword_hits(keywords: Iterable[str], words: Sequence[_Token]) -> dict[int, int]:
    """Word index -> length of the longest keyword part matching that word."""
    hits: dict[int, int] = {}
    for keyword in {_Keyword.of(k) for k in keywords if k.strip()}:
        for start in keyword.positions(words):
            for offset, part in enumerate(keyword.parts):
                index = start + offset
                hits[index] = max(hits.get(index, 0), len(part))
    return hits


@dataclass(frozen=True)
class Example:
    """A request labelled by hand with its topic's code."""

    topic: str
    text: str


@cache
def shipped_examples() -> tuple[Example, ...]:
    text = resources.files(__package__ or "bot.domain").joinpath(EXAMPLES).read_text("utf-8")
    rows = csv.DictReader(text.splitlines(), delimiter="\t")
    return tuple(Example(row["topic"], row["text"]) for row in rows)


def _features(words: Sequence[_Token], hits: Mapping[str, int]) -> dict[str, float]:
    """One feature per stem of the text, and per topic the number of words its keywords matched.

    Topic features start with '#', which no stem contains.
    """
    features = dict.fromkeys((_stem(t.word) for t in words if len(t.word) > 1), 1.0)
    features.update((f"#{code}", float(count)) for code, count in hits.items() if count)
    return features


def _probabilities(logits: Sequence[float]) -> list[float]:
    top = max(logits)
    exps = [math.exp(value - top) for value in logits]
    total = sum(exps)
    return [value / total for value in exps]


def _documents(
    keywords: Mapping[str, Sequence[str]], examples: Iterable[Example]
) -> list[tuple[dict[str, float], int]]:
    """The features and topic index of each example of the topics, and of each keyword list."""
    codes = list(keywords)
    documents = []
    for example in examples:
        if example.topic in keywords:
            words = tokens(example.text)
            hits = {code: len(_keyword_hits(keywords[code], words)) for code in codes}
            documents.append((_features(words, hits), codes.index(example.topic)))
    for label, code in enumerate(codes):
        stems = [_stem(part) for k in keywords[code] for part in _Keyword.of(k).parts]
        if stems:
            documents.append(({**dict.fromkeys(stems, 1.0), f"#{code}": 1.0}, label))
    return documents


def _fit(
    documents: Sequence[tuple[Mapping[str, float], int]], width: int
) -> tuple[dict[str, tuple[float, ...]], tuple[float, ...]]:
    """Weights (per feature, one for each of ``width`` topics) and biases by gradient descent."""
    names = list(dict.fromkeys(name for document, _ in documents for name in document))
    index = {name: i for i, name in enumerate(names)}
    rows = [([index[name] for name in d], list(d.values()), label) for d, label in documents]
    weights = [[0.0] * len(names) for _ in range(width)]  # per topic, one for each feature
    bias = [0.0] * width
    for _ in range(TRAINING_STEPS if rows else 0):
        gradient = [[0.0] * len(names) for _ in range(width)]
        bias_gradient = [0.0] * width
        for ids, values, label in rows:
            logits = [
                b + sum(w[i] * v for i, v in zip(ids, values, strict=True))
                for b, w in zip(bias, weights, strict=True)
            ]
            errors = _probabilities(logits)
            errors[label] -= 1.0
            for row, error in zip(gradient, errors, strict=True):
                for i, v in zip(ids, values, strict=True):
                    row[i] += error * v
            bias_gradient = [g + e for g, e in zip(bias_gradient, errors, strict=True)]
        weights = [
            [
                w - LEARNING_RATE * (g / len(rows) + L2_PENALTY * w)
                for w, g in zip(ws, gs, strict=True)
            ]
            for ws, gs in zip(weights, gradient, strict=True)
        ]
        bias = [b - LEARNING_RATE * g / len(rows) for b, g in zip(bias, bias_gradient, strict=True)]
    return {name: tuple(ws[i] for ws in weights) for name, i in index.items()}, tuple(bias)


@dataclass(frozen=True)
class TopicClassifier:
    """Softmax regression over stems and keyword matches, for text that no keyword matches.

    Trained together with the keyword counts, the stems' weights learn what keywords miss;
    text whose every keyword count is zero leans to the catch-all topic, as the examples do.
    Naive Bayes over the same stems did worse than keywords alone in cross-validation over
    the examples; this did a little better, on the requests that no keyword matches.
    """

    codes: tuple[str, ...]
    weights: Mapping[str, tuple[float, ...]]  # feature -> weight for each code
    bias: tuple[float, ...]

    @classmethod
    def train(
        cls, keywords: Mapping[str, Sequence[str]], examples: Iterable[Example]
    ) -> TopicClassifier:
        """Learn the topics named in ``keywords`` from the examples of those topics.

        Each topic's keywords also make one example, so a topic without examples is learnt too.
        """
        weights, bias = _fit(_documents(keywords, examples), len(keywords))
        return cls(tuple(keywords), weights, bias)

    def guess(self, features: Mapping[str, float]) -> str | None:
        """The likeliest topic's code; None when no feature of the text was ever seen."""
        known = {name: value for name, value in features.items() if name in self.weights}
        if not known:
            return None
        logits = list(self.bias)
        for name, value in known.items():
            for k, weight in enumerate(self.weights[name]):
                logits[k] += value * weight
        return self.codes[max(range(len(logits)), key=logits.__getitem__)]


@lru_cache(maxsize=8)
def _trained(keywords: tuple[tuple[str, tuple[str, ...]], ...]) -> TopicClassifier:
    return TopicClassifier.train(dict(keywords), shipped_examples())


def classifier_for(topics: Sequence[Topic]) -> TopicClassifier:
    """The classifier for these topics and keywords, trained on the shipped examples once."""
    return _trained(tuple((topic.code, tuple(topic.keywords)) for topic in topics))


def hashtag_topic(topics: Sequence[Topic], text: str) -> Topic | None:
    """The topic named by the first of the text's hashtags that names one."""
    for tag in _HASHTAG.findall(text):
        topic = match_topic(topics, tag)
        if topic is not None:
            return topic
    return None


def suggest_topic(
    topics: Sequence[Topic], text: str, classifier: TopicClassifier | None = None
) -> Suggestion:
    """The topic whose keywords cover most words of the text, else the classifier's guess.

    Each word counts once per topic. Between topics covering as many words, the longer
    matches win (a long stem such as "реабилитац" says more than "цен"), then the topic
    matched earlier in the text. When no keyword matches, the classifier (by default the one
    trained on the shipped examples) guesses from the stems; without a guess, or when it
    guesses so, the catch-all topic is suggested.
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
    if best is not None:
        return best
    classifier = classifier_for(topics) if classifier is None else classifier
    code = classifier.guess(_features(words, {})) or FALLBACK_CODE
    by_code = {topic.code: topic for topic in topics}
    return Suggestion(by_code.get(code) or by_code.get(FALLBACK_CODE))


def choose_topic(
    topics: Sequence[Topic], text: str, classifier: TopicClassifier | None = None
) -> tuple[Topic | None, bool]:
    """The request's topic and whether its author named it (by hashtag) or it is a guess."""
    named = hashtag_topic(topics, text)
    if named is not None:
        return named, True
    return suggest_topic(topics, text, classifier).topic, False
