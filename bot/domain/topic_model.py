"""The topic model as the bot runs it: numpy alone, no scikit-learn, no SciPy.

A model is trained with scikit-learn (``bot.domain.topic_training``, in a process of its own);
what the bot keeps of it is arrays: each TF-IDF part's vocabulary (sorted, so a term's column
is found by binary search) and idf weights, the logistic regression's coefficients, intercepts
and classes, and each topic's keywords. A text's features are computed here as scikit-learn
computes them (the same functions for the stems, the word vectors and the keywords; TF-IDF with
sublinear tf and the l2 norm, and character n-grams within word boundaries, done again the same
way), and its probabilities as scikit-learn's ``predict_proba`` gives them: the tests check
that both give the same topic and probabilities on every labelled request.

The features, side by side: TF-IDF of the word stems; TF-IDF of the character n-grams (3 to 5,
within words, digits left out); the mean of the words' Russian vectors (navec's, see
``bot.domain.word_vectors``), scaled to ``VECTOR_WEIGHT``; and for each topic, how many words
of the text its keywords match (capped).
"""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from bot.domain.topic_text import WORD, keyword_hits, letters, normalize, stems, tokens
from bot.domain.word_vectors import word_vectors

if TYPE_CHECKING:
    from models import Topic

# The model's settings (with the regression's, in bot.domain.topic_training), chosen by 5-fold
# cross-validation over the shipped examples alone.
VECTOR_WEIGHT = 2.0  # the mean word vector's length beside the unit-length TF-IDF rows
KEYWORD_WEIGHT = 0.5  # per word a topic's keywords match (counted up to KEYWORD_CAP words)
KEYWORD_CAP = 3
NGRAMS = (3, 5)  # the character n-grams' lengths
# Below this probability the likeliest topic is no suggestion: the author is asked instead.
LIKELY = 0.3

Floats = npt.NDArray[np.float64]
Terms = npt.NDArray[np.str_]
Columns = npt.NDArray[np.intp]


def char_ngrams(text: str) -> list[str]:
    """The character n-grams of each word, the word padded with a space on both sides, as
    scikit-learn's ``analyzer="char_wb"`` makes them (a word shorter than an n-gram is one
    n-gram, counted once)."""
    low, high = NGRAMS
    found: list[str] = []
    for word in text.split():
        padded = f" {word} "
        for n in range(low, high + 1):
            found.extend(padded[i : i + n] for i in range(max(1, len(padded) - n + 1)))
            if len(padded) <= n:
                break
    return found


def mean_vector(text: str) -> npt.NDArray[np.float32]:
    """The mean vector of the text's words, scaled to ``VECTOR_WEIGHT`` (zeros without a
    known word)."""
    mean = word_vectors().mean(WORD.findall(normalize(text)))
    length = float(np.linalg.norm(mean))
    return mean * (VECTOR_WEIGHT / length) if length else mean


def keyword_counts(keywords: Sequence[tuple[str, ...]], text: str) -> Floats:
    """For each topic, how many of the text's words its keywords match (capped), weighted."""
    words = tokens(text)
    return np.array(
        [min(len(keyword_hits(k, words)), KEYWORD_CAP) * KEYWORD_WEIGHT for k in keywords],
        dtype=float,
    )


@dataclass(frozen=True)
class Tfidf:
    """One fitted TF-IDF part: its terms, sorted, and their idf weights."""

    terms: Terms
    idf: Floats

    def weigh(self, found: Iterable[str]) -> tuple[Columns, Floats]:
        """The columns of the known terms and their weights: 1 + ln(count) times the idf,
        the row scaled to unit length (scikit-learn's ``sublinear_tf=True``, ``norm="l2"``)."""
        counts = Counter(found)
        if not counts or not len(self.terms):
            return np.zeros(0, dtype=np.intp), np.zeros(0)
        asked = np.array(list(counts))
        at = np.minimum(np.searchsorted(self.terms, asked), len(self.terms) - 1)
        known = self.terms[at] == asked
        columns = at[known]
        values = (1.0 + np.log(np.array(list(counts.values()), dtype=float)[known])) * self.idf[
            columns
        ]
        norm = np.sqrt(np.dot(values, values))
        return columns, values / norm if norm else values


@dataclass(frozen=True, eq=False)
class TopicModel:
    """Which topic a text is about, with how likely; see the module's description."""

    classes: Terms  # topic codes, in the order of the coefficients' rows
    stems: Tfidf
    ngrams: Tfidf
    keywords: tuple[tuple[str, ...], ...]  # each topic's keywords: a column each
    coef: Floats  # a row per class (one row for two classes), a column per feature
    intercept: Floats

    def features(self, text: str) -> tuple[Columns, Floats, npt.NDArray[np.float32], Floats]:
        """The stems' and n-grams' columns and weights (the n-grams' columns after the
        stems'), the scaled mean word vector, the keyword counts."""
        stem_columns, stem_values = self.stems.weigh(stems(text))
        ngram_columns, ngram_values = self.ngrams.weigh(char_ngrams(letters(text)))
        return (
            np.concatenate((stem_columns, ngram_columns + len(self.stems.terms))),
            np.concatenate((stem_values, ngram_values)),
            mean_vector(text),
            keyword_counts(self.keywords, text),
        )

    def probabilities(self, text: str) -> Floats | None:
        """Each class's probability, as scikit-learn's logistic regression gives it; None for
        text with nothing the model has seen (no known stem, character sequence or word, no
        keyword), which it cannot place."""
        columns, values, vector, counts = self.features(text)
        if not len(columns) and not vector.any() and not counts.any():
            return None
        start = len(self.stems.terms) + len(self.ngrams.terms)
        scores = (
            self.coef[:, columns] @ values
            + self.coef[:, start : start + len(vector)] @ vector
            + self.coef[:, start + len(vector) :] @ counts
            + self.intercept
        )
        if len(scores) == 1:  # two classes: the score is the second's
            second = 1.0 / (1.0 + np.exp(-scores))
            return np.concatenate((1.0 - second, second))
        exp = np.exp(scores - scores.max())
        probabilities: Floats = exp / exp.sum()
        return probabilities

    def likeliest(self, text: str) -> tuple[str, float] | None:
        """The likeliest topic's code and its probability; None for text with nothing the
        model has seen."""
        probabilities = self.probabilities(text)
        if probabilities is None:
            return None
        best = int(probabilities.argmax())
        return str(self.classes[best]), float(probabilities[best])

    def ranked(self, topics: Sequence[Topic], text: str) -> list[Topic]:
        """The topics, likeliest first (in their own order for text the model cannot place)."""
        probabilities = self.probabilities(text)
        if probabilities is None:
            return list(topics)
        by_code = {str(code): float(p) for code, p in zip(self.classes, probabilities, strict=True)}
        return sorted(topics, key=lambda topic: -by_code.get(topic.code, 0.0))

    def suggest(self, topics: Sequence[Topic], text: str) -> Topic | None:
        """The likeliest of the topics, or None when none is likely enough to suggest."""
        found = self.likeliest(text)
        if found is None or found[1] < LIKELY:
            return None
        return next((topic for topic in topics if topic.code == found[0]), None)

    def to_bytes(self) -> bytes:
        """The model as an .npz archive (arrays only: nothing that unpickling would run)."""
        buffer = io.BytesIO()
        np.savez(
            buffer,
            classes=self.classes,
            stems=self.stems.terms,
            stem_idf=self.stems.idf,
            ngrams=self.ngrams.terms,
            ngram_idf=self.ngrams.idf,
            keywords=np.array(json.dumps(self.keywords, ensure_ascii=False)),
            coef=self.coef,
            intercept=self.intercept,
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> TopicModel:
        with np.load(io.BytesIO(data), allow_pickle=False) as found:
            return cls(
                classes=found["classes"],
                stems=Tfidf(found["stems"], found["stem_idf"]),
                ngrams=Tfidf(found["ngrams"], found["ngram_idf"]),
                keywords=tuple(tuple(k) for k in json.loads(str(found["keywords"]))),
                coef=found["coef"],
                intercept=found["intercept"],
            )
