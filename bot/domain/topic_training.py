"""Training a topic model with scikit-learn, in a process that ends with it.

    python -m bot.domain.topic_training < training-set.json > model.npz

The bot starts this for each training (``bot.domain.topic_learning``): it reads the topics'
terms and the examples (``TrainingSet`` as JSON) on stdin, fits scikit-learn's pipeline and
writes what the bot keeps of it (``TopicModel.to_bytes``, an .npz of arrays) to stdout. So
scikit-learn, SciPy and the training's memory live only as long as a training, and the bot's
process never imports them. It imports neither SQLAlchemy, nor the models, nor aiogram: only
the text and word-vector modules the bot's model shares with it.

The pipeline: TF-IDF of word stems, TF-IDF of character n-grams, the mean word vector and the
keyword counts side by side (``bot.domain.topic_model``), then a logistic regression. Its
settings were chosen by 5-fold cross-validation over the shipped examples alone. Its solver is
newton-cg: the same objective as the default lbfgs, whose workspace (ten past steps and
gradients of each of the shipped model's 250K coefficients, 50 MB) put 54 MiB on the process's
peak; newton-cg keeps a few vectors of that size, and is as fast.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from functools import partial

import numpy as np
import numpy.typing as npt
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer

from bot.domain.topic_model import (
    NGRAMS,
    Columns,
    Floats,
    Tfidf,
    TopicModel,
    keyword_counts,
    mean_vector,
)
from bot.domain.topic_text import Example, TopicTerms, TrainingSet, letters, stems

REGULARISATION_C = 30.0


def _mean_vectors(texts: Iterable[str]) -> npt.NDArray[np.float32]:
    return np.vstack([mean_vector(text) for text in texts])


def _keyword_counts(keywords: tuple[tuple[str, ...], ...], texts: Iterable[str]) -> Floats:
    rows = [keyword_counts(keywords, text) for text in texts]
    return np.array(rows, dtype=float).reshape(-1, len(keywords))


def _keywords_of(topics: Sequence[TopicTerms]) -> tuple[tuple[str, ...], ...]:
    return tuple(topic.keywords for topic in topics)


def pipeline(topics: Sequence[TopicTerms]) -> Pipeline:
    return make_pipeline(
        FeatureUnion(
            [
                ("stems", TfidfVectorizer(analyzer=stems, sublinear_tf=True)),
                (
                    "chars",
                    TfidfVectorizer(
                        analyzer="char_wb",
                        ngram_range=NGRAMS,
                        sublinear_tf=True,
                        preprocessor=letters,
                    ),
                ),
                ("vectors", FunctionTransformer(_mean_vectors)),
                ("keywords", FunctionTransformer(partial(_keyword_counts, _keywords_of(topics)))),
            ]
        ),
        LogisticRegression(C=REGULARISATION_C, solver="newton-cg", max_iter=3000),
    )


def fit(topics: Sequence[TopicTerms], examples: Iterable[Example]) -> Pipeline:
    """scikit-learn's pipeline, learnt from the examples of these topics and from each
    topic's words (so that a topic with no example yet is learnt too)."""
    codes = {topic.code for topic in topics}
    texts, labels, weights = [], [], []
    for example in examples:
        if example.topic in codes:
            texts.append(example.text)
            labels.append(example.topic)
            weights.append(example.weight)
    for topic in topics:
        if topic.words:
            texts.append(" ".join(topic.words))
            labels.append(topic.code)
            weights.append(1.0)
    if len(set(labels)) < 2:
        raise ValueError("a model needs at least two topics with words or examples")
    fitted = pipeline(topics)
    fitted.fit(texts, labels, logisticregression__sample_weight=weights)
    return fitted


def _tfidf(vectorizer: TfidfVectorizer) -> tuple[Tfidf, Columns]:
    """The part's terms sorted, their idf weights, and the column each had in the pipeline."""
    terms = np.array(list(vectorizer.vocabulary_), dtype=str)
    columns = np.array(list(vectorizer.vocabulary_.values()), dtype=np.intp)
    order = np.argsort(terms)
    return Tfidf(terms[order], vectorizer.idf_[columns[order]]), columns[order]


def lean(fitted: Pipeline, topics: Sequence[TopicTerms]) -> TopicModel:
    """What the bot keeps of a fitted pipeline: arrays (see ``bot.domain.topic_model``)."""
    parts = dict(fitted[0].transformer_list)
    regression: LogisticRegression = fitted[-1]
    stem_part, stem_columns = _tfidf(parts["stems"])
    ngram_part, ngram_columns = _tfidf(parts["chars"])
    # The word vector's and the keywords' columns follow the two TF-IDF parts, as they were.
    rest = np.arange(len(stem_columns) + len(ngram_columns), regression.coef_.shape[1])
    columns = np.concatenate((stem_columns, ngram_columns + len(stem_columns), rest))
    return TopicModel(
        classes=np.array(regression.classes_, dtype=str),
        stems=stem_part,
        ngrams=ngram_part,
        keywords=_keywords_of(topics),
        coef=np.ascontiguousarray(regression.coef_[:, columns], dtype=np.float64),
        intercept=np.asarray(regression.intercept_, dtype=np.float64),
    )


def train(topics: Sequence[TopicTerms], examples: Iterable[Example]) -> TopicModel:
    """A model learnt in this process (the bot has it done in a process of its own)."""
    return lean(fit(topics, examples), topics)


def main() -> None:
    training = TrainingSet.from_json(sys.stdin.buffer.read())
    sys.stdout.buffer.write(train(training.topics, training.examples).to_bytes())


if __name__ == "__main__":
    main()
