"""The bot's topic model, numpy alone, gives what scikit-learn's pipeline gives.

A model is trained with scikit-learn (``bot.domain.topic_training.fit``); the bot keeps its
arrays (``lean``, sent as bytes from the training process) and computes the features and the
probabilities again (``bot.domain.topic_model``). For every text of every labelled set, and
texts with nothing to go on, both must give the same topic with the same probabilities, and
agree on which texts the model cannot place (nothing it has seen: no feature at all).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from bot.domain.topic_model import NGRAMS, TopicModel, char_ngrams
from bot.domain.topic_text import Example, TopicTerms, letters, shipped_examples, terms_of
from bot.domain.topic_training import fit, lean
from bot.domain.topics import default_topics
from tests.labelled import every_text, six_group_corrections, six_groups

pytestmark = pytest.mark.no_database

NOTHING = ("", "   ", "12345", "!!!", "🙂🙂🙂")
TOLERANCE = 1e-12  # float64 sums in another order: about 1e-15 apart


def _texts() -> list[str]:
    return [*every_text(), *NOTHING]


def _shipped() -> tuple[tuple[TopicTerms, ...], Sequence[Example]]:
    return terms_of(default_topics()), shipped_examples()


def _six_groups() -> tuple[tuple[TopicTerms, ...], Sequence[Example]]:
    """A programme's own six topics with its ten corrections each."""
    return terms_of(six_groups()), [*shipped_examples(), *six_group_corrections()]


def _two_topics() -> tuple[tuple[TopicTerms, ...], Sequence[Example]]:
    """Two topics: a logistic regression of one row of coefficients."""
    two = [topic for topic in default_topics() if topic.code in {"legal", "psychology"}]
    return terms_of(two), shipped_examples()


@pytest.mark.parametrize("training", [_shipped, _six_groups, _two_topics])
def test_the_bots_model_gives_what_scikit_learn_gives_on_every_labelled_request(
    training: Callable[[], tuple[tuple[TopicTerms, ...], Sequence[Example]]],
) -> None:
    topics, examples = training()
    pipeline = fit(topics, examples)
    model = TopicModel.from_bytes(lean(pipeline, topics).to_bytes())
    assert list(model.classes) == list(pipeline.classes_)
    texts = _texts()
    expected = pipeline.predict_proba(texts)
    placeable = pipeline[0].transform(texts).getnnz(axis=1) > 0
    assert not placeable[-len(NOTHING) :].any()
    for text, probabilities, seen in zip(texts, expected, placeable, strict=True):
        found = model.probabilities(text)
        if not seen:
            assert found is None, text
            continue
        assert found is not None, text
        assert int(found.argmax()) == int(probabilities.argmax()), text
        np.testing.assert_allclose(found, probabilities, rtol=0, atol=TOLERANCE, err_msg=text)


def test_character_n_grams_are_scikit_learns() -> None:
    analyzer = TfidfVectorizer(
        analyzer="char_wb", ngram_range=NGRAMS, preprocessor=letters
    ).build_analyzer()
    for text in [*_texts(), "a  b\tcd\n efgh", "ё-моё 2024"]:
        assert char_ngrams(letters(text)) == analyzer(text), text
