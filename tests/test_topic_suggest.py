"""Topic suggestion: hashtags, and a model of examples, keywords and word vectors.

``tests/data/requests_ru.tsv`` holds realistic requests labelled by hand, all shipped as
``bot/domain/topic_examples_ru.tsv``: the examples the model learns from. Its ``set`` column
tells how they came: ``tuning`` rows were written first (the keyword list of migration 0003
was extended while looking at them), ``fresh`` ones later, and ``second`` ones by someone who
saw neither the keywords nor the model; those were first scored as held-out (74.0%), then
used to choose the model's design (the keywords as features of the model instead of a rule
ahead of it) and to train it.

``tests/data/requests_ru_heldout.tsv`` (140 requests, 20 per topic) and the ``test`` rows of
``tests/data/six_groups_ru.tsv`` (a new programme's own six topics) were then written the
same way, apart from the code, and never used to change anything: their accuracy is the
honest estimate for new text. The held-out set was scored at 80.0%; then ``third`` rows were
written (by someone who saw neither held-out set) and shipped, and
``tests/data/requests_ru_heldout3.tsv`` (160 requests) was written apart from everything else
and scored once, with the third rows in: 90.6%, the held-out set 83.6%. The six groups'
``train`` rows stand for the coordinator's 10 corrections per topic; its ``dev`` rows were the
first test rows, scored once (68.9%) and used since only to check settings. The tests print
the figures and guard against a model that does worse than the one they were first scored on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from functools import cache

import pytest

from bot.domain.topic_model import TopicModel
from bot.domain.topic_suggest import choose_topic, hashtag_topic, keyword_topic, suggest_topic
from bot.domain.topic_text import (
    Example,
    TopicTerms,
    shipped_examples,
    terms_of,
)
from bot.domain.topic_training import train
from bot.domain.topics import default_topics
from models import Topic
from tests import labelled
from tests.labelled import SIX_GROUPS, six_group_corrections, six_groups

# Nothing here touches the suite's database: the PostgreSQL run leaves it out.
pytestmark = pytest.mark.no_database

CODES = {"legal", "grants", "rehabilitation", "business", "psychology", "education", "other"}
# Held-out: 80.0% when first scored, 83.6% with the third rows; the newer held-out set 90.6%
# when scored (the goal is 85%). A change that does worse fails here. The new programme's six
# topics: 88.9% when first scored, and the goal is 80%.
HELD_OUT_FLOOR = 0.81
NEWER_HELD_OUT_FLOOR = 0.88
SIX_GROUPS_FLOOR = 0.80  # the goal itself


@pytest.fixture
def topics() -> list[Topic]:
    """The topics a programme starts with, keywords included."""
    return default_topics()


@cache
def shipped_model(terms: tuple[TopicTerms, ...]) -> TopicModel:
    """The shipped examples' model, trained in this process once per set of topics (the bot
    has it trained by a process of its own: tests/test_topic_learning.py)."""
    return train(terms, shipped_examples())


@pytest.fixture
def model(topics: list[Topic]) -> TopicModel:
    return shipped_model(terms_of(topics))


def test_the_labelled_sets_are_large_and_cover_every_topic() -> None:
    for name, least in (
        ("requests_ru.tsv", 600),
        ("requests_ru_heldout.tsv", 140),
        ("requests_ru_heldout3.tsv", 160),
    ):
        found = labelled.rows(name)
        assert len(found) >= least
        assert set(Counter(row["topic"] for row in found)) == CODES
        assert len({row["text"] for row in found}) == len(found)
    six = labelled.rows("six_groups_ru.tsv")
    assert Counter((row["set"], row["topic"]) for row in six) == {
        **{("train", code): 10 for code in SIX_GROUPS},
        **{("dev", code): 15 for code in SIX_GROUPS},
        **{("test", code): 15 for code in SIX_GROUPS},
    }


def test_the_shipped_examples_are_the_labelled_rows_and_no_held_out_one() -> None:
    """The held-out requests and the new programme's requests never train the model."""
    shipped = [(example.topic, example.text) for example in shipped_examples()]
    assert shipped == [(row["topic"], row["text"]) for row in labelled.rows("requests_ru.tsv")]
    held_out = {row["text"] for row in labelled.rows("requests_ru_heldout.tsv")}
    held_out |= {row["text"] for row in labelled.rows("requests_ru_heldout3.tsv")}
    held_out |= {row["text"] for row in labelled.rows("six_groups_ru.tsv")}
    assert not held_out & {text for _topic, text in shipped}


def _score(
    rows: list[dict[str, str]], guess: Callable[[str], Topic | None]
) -> tuple[float, int, Counter[str]]:
    """Accuracy (asking counts as a miss), how many were asked, right answers per topic."""
    right: Counter[str] = Counter()
    asked = 0
    for row in rows:
        topic = guess(row["text"])
        asked += topic is None
        right[row["topic"]] += topic is not None and topic.code == row["topic"]
    return sum(right.values()) / len(rows), asked, right


@pytest.mark.parametrize(
    ("name", "floor"),
    [
        ("requests_ru_heldout.tsv", HELD_OUT_FLOOR),
        ("requests_ru_heldout3.tsv", NEWER_HELD_OUT_FLOOR),
    ],
)
async def test_accuracy_on_held_out_requests(
    name: str,
    floor: float,
    topics: list[Topic],
    model: TopicModel,
    capsys: pytest.CaptureFixture[str],
) -> None:
    requests = labelled.rows(name)
    accuracy, asked, right = _score(requests, lambda text: choose_topic(topics, text, model)[0])
    keywords_only, _asked, _right = _score(
        requests, lambda text: choose_topic(topics, text, None)[0]
    )
    total = Counter(row["topic"] for row in requests)
    with capsys.disabled():
        print(  # noqa: T201
            f"\n{name}: {accuracy:.1%} right ({asked} asked instead of guessed); "
            f"keywords alone: {keywords_only:.1%}\n  "
            + ", ".join(f"{code} {right[code]}/{total[code]}" for code in sorted(total))
        )
    assert accuracy >= floor
    assert accuracy > keywords_only


def test_a_new_programme_learns_its_own_topics_from_ten_corrections_each(
    capsys: pytest.CaptureFixture[str],
) -> None:
    six = six_groups()
    learnt = train(terms_of(six), [*shipped_examples(), *six_group_corrections()])
    untaught = shipped_model(terms_of(six))
    test = [row for row in labelled.rows("six_groups_ru.tsv") if row["set"] == "test"]
    accuracy, asked, _right = _score(test, lambda text: learnt.suggest(six, text))
    before, _asked, _right = _score(test, lambda text: untaught.suggest(six, text))
    with capsys.disabled():
        print(  # noqa: T201
            f"\nsix project groups after 10 corrections each: {accuracy:.1%} right ({asked} "
            f"asked); from the titles alone: {before:.1%}"
        )
    assert accuracy >= SIX_GROUPS_FLOOR
    assert accuracy > before + 0.2


async def test_a_hashtag_decides_the_topic(topics: list[Topic], model: TopicModel) -> None:
    topic, named = choose_topic(topics, "Как зарегистрировать АНО? #гранты", model)
    assert (topic and topic.code, named) == ("grants", True)
    topic, named = choose_topic(topics, "Как зарегистрировать АНО? #нетакоготега", model)
    assert (topic and topic.code, named) == ("legal", False)
    found = hashtag_topic(topics, "нужна помощь #Rehab и #юрист")
    assert found is not None and found.code == "rehabilitation"
    # A '#' inside a word is not a hashtag.
    assert hashtag_topic(topics, "пункт№5 a#legal") is None


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("How do we register an NGO and what documents does the charter need?", "legal"),
        ("We want to apply for a grant: how should the budget look?", "grants"),
        ("Where can a wheelchair user get rehabilitation after surgery?", "rehabilitation"),
        ("Как попасть в программу «Мой бизнес»?", "business"),
        ("ВЫГОРАНИЕ у всей команды, что делать?", "psychology"),
        ("Отчётность по гранту: что сдавать?", "grants"),
    ],
)
async def test_stems_in_russian_and_english(
    topics: list[Topic], model: TopicModel, text: str, code: str
) -> None:
    suggestion = suggest_topic(topics, text, model)
    assert suggestion.topic is not None and suggestion.topic.code == code, suggestion


async def test_text_in_another_language_goes_by_the_keywords_or_is_asked(
    topics: list[Topic], model: TopicModel
) -> None:
    found = suggest_topic(topics, "I need a psychologist, my team is burnt out", model).topic
    assert found is not None and found.code == "psychology"
    # The Russian model would guess at these; the author is asked instead.
    assert suggest_topic(topics, "Where do we sell our crafts at the fair?", model).topic is None
    assert suggest_topic(topics, "Czy ktoś wie, gdzie są zdjęcia z piątku?", model).topic is None
    # Polish has keywords of its own (tests/test_topic_polish.py).
    found = suggest_topic(topics, "Gdzie sprzedać rękodzieło na jarmarku?", model).topic
    assert found is not None and found.code == "business"


@pytest.mark.parametrize("text", ["", "   ", "12345", "!!!", "🙂🙂🙂"])
async def test_text_with_nothing_to_go_on_is_not_guessed(
    topics: list[Topic], model: TopicModel, text: str
) -> None:
    assert model.likeliest(text) is None
    assert suggest_topic(topics, text, model).topic is None


async def test_small_talk_goes_to_the_catch_all_topic(
    topics: list[Topic], model: TopicModel
) -> None:
    for text in ("Спасибо всем!", "Когда следующая встреча группы?"):
        topic = suggest_topic(topics, text, model).topic
        assert topic is not None and topic.code == "other", text


def test_short_keywords_match_whole_words_only() -> None:
    legal = Topic(
        id=1, code="legal", title_ru="Право", title_en="Law", hashtags=[], keywords=["ано"]
    )
    other = Topic(id=2, code="other", title_ru="Другое", title_en="Other", hashtags=[], keywords=[])
    found = keyword_topic([legal, other], "Регистрация АНО")
    assert found is not None and found.topic is legal
    assert keyword_topic([legal, other], "Анонс встречи") is None


def _topic(id_: int, code: str, keywords: list[str]) -> Topic:
    return Topic(
        id=id_, code=code, title_ru=code, title_en=code, hashtags=[code], keywords=keywords
    )


def test_without_keywords_the_model_learns_from_examples() -> None:
    legal = _topic(1, "legal", ["ано"])
    psychology = _topic(2, "psychology", [])
    other = _topic(3, "other", [])
    topics = [legal, psychology, other]
    examples = [
        Example("psychology", "Бессонница и кошмары после обстрела"),
        Example("psychology", "Ребёнок плачет по ночам, бессонница"),
        Example("other", "Когда следующая встреча группы?"),
        Example("other", "Перенесите встречу на пятницу"),
        Example("legal", "Как зарегистрировать АНО?"),
    ]
    model = train(terms_of(topics), examples)
    guess = suggest_topic(topics, "Бессонница замучила, что делать", model)
    assert guess.topic is psychology and guess.score == 0
    assert suggest_topic(topics, "Встреча группы будет?", model).topic is other
    # A topic's keyword speaks for it even with no example like the text.
    assert suggest_topic(topics, "Нужна АНО", model).topic is legal
    with pytest.raises(ValueError, match="two topics"):
        train(terms_of([_topic(4, "lonely", [])]), [])
