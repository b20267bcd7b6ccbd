"""The word vectors as the bot reads them are navec's: every word, every vector, every mean.

``bot.domain.word_vectors`` reads natasha's archive itself, keeping the words compact and the
codes in the file; navec's own loader is what it is compared with here.
"""

from __future__ import annotations

import numpy as np
import pytest
from navec import Navec

from bot.domain.topic_text import WORD, normalize
from bot.domain.word_vectors import archive, word_vectors
from tests.labelled import every_text

pytestmark = pytest.mark.no_database

CHUNK = 10_000


@pytest.fixture(scope="module")
def navec() -> Navec:
    return Navec.load(str(archive()))


def test_every_word_has_navecs_row_and_vector(navec: Navec) -> None:
    vectors = word_vectors()
    words = navec.vocab.words
    assert len(words) == 250_002
    assert [vectors.id_of(word) for word in words] == [navec.vocab[word] for word in words]
    for start in range(0, len(words), CHUNK):
        ids = list(range(start, min(start + CHUNK, len(words))))
        expected = np.stack([navec.pq[i] for i in ids])
        assert np.array_equal(vectors.rows(ids), expected), start


def test_a_word_navec_does_not_know_is_not_known(navec: Navec) -> None:
    vectors = word_vectors()
    for word in ("", "налогг", "Налог", "qwertyuiopasdfghjklzxcvbnm", "ё" * 80):
        assert (vectors.id_of(word) is None) == (word not in navec), word


def test_the_mean_vector_of_every_labelled_request_is_navecs(navec: Navec) -> None:
    vectors = word_vectors()
    for text in [*every_text(), "", "12345"]:
        words = WORD.findall(normalize(text))
        known = [navec[word] for word in words if word in navec]
        expected = np.mean(known, axis=0) if known else np.zeros(300, dtype=np.float32)
        found = vectors.mean(words)
        assert found.dtype == expected.dtype and np.array_equal(found, expected), text
