"""Topic suggestion: hashtags, keywords stemmed in Russian and English, a classifier of examples.

``tests/data/requests_ru.tsv`` holds realistic requests labelled by hand. Its ``set`` column
says how each row was used:

* ``tuning`` rows were written first. The keyword list (migration 0003) was extended while
  looking at them, and they are shipped as ``bot/domain/topic_examples_ru.tsv``: the
  examples that the classifier (used when no keyword matches) is trained on, together with
  each topic's keywords. The classifier's kind and settings were chosen by cross-validation
  over these rows alone. Accuracy on them is therefore optimistic.
* ``fresh`` rows were written last and never used to change anything: not keywords, not
  examples, not settings. Their accuracy is the honest estimate for new text. The accuracy
  test prints it, but lists the misses of ``tuning`` rows only, so they stay unused.

The required accuracy applies to the whole file.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.db import create_engine, create_session_factory, upgrade
from bot.domain.topic_suggest import (
    Example,
    TopicClassifier,
    choose_topic,
    classifier_for,
    hashtag_topic,
    shipped_examples,
    suggest_topic,
)
from bot.domain.topics import list_topics
from models import Topic

DATA = Path(__file__).parent / "data" / "requests_ru.tsv"
REQUIRED_ACCURACY = 0.85


@pytest.fixture
async def topics(database_url: str) -> AsyncIterator[list[Topic]]:
    """The topics as migrations seed them, keywords included."""
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        async with create_session_factory(engine)() as session:
            yield await list_topics(session)
    finally:
        await engine.dispose()


def _labelled() -> list[dict[str, str]]:
    with DATA.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def test_the_labelled_set_is_large_and_covers_every_topic() -> None:
    rows = _labelled()
    assert len(rows) >= 60
    assert set(Counter(row["topic"] for row in rows)) == {
        "legal",
        "grants",
        "rehabilitation",
        "business",
        "psychology",
        "education",
        "other",
    }
    assert len({row["text"] for row in rows}) == len(rows)


def test_the_shipped_examples_are_the_tuning_rows_and_nothing_else() -> None:
    tuning = [(row["topic"], row["text"]) for row in _labelled() if row["set"] == "tuning"]
    assert [(example.topic, example.text) for example in shipped_examples()] == tuning


async def test_suggestion_accuracy_on_labelled_requests(
    topics: list[Topic], capsys: pytest.CaptureFixture[str]
) -> None:
    rows = _labelled()
    right: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    misses = []
    for row in rows:
        suggestion = suggest_topic(topics, row["text"])
        got = suggestion.topic.code if suggestion.topic else None
        seen[row["set"]] += 1
        if got == row["topic"]:
            right[row["set"]] += 1
        elif row["set"] != "fresh":  # fresh rows are scored, never looked at one by one
            misses.append(f"  {row['topic']} -> {got}: {row['text'][:70]}")
    accuracy = sum(right.values()) / len(rows)
    with capsys.disabled():
        print(f"\ntopic suggestion: {sum(right.values())}/{len(rows)} = {accuracy:.1%}")  # noqa: T201
        for name in seen:
            print(f"  {name}: {right[name]}/{seen[name]} = {right[name] / seen[name]:.1%}")  # noqa: T201
        print(  # noqa: T201
            f"  fresh only (never used for training or tuning, the honest estimate): "
            f"{right['fresh']}/{seen['fresh']} = {right['fresh'] / seen['fresh']:.1%}"
        )
        print("\n".join(misses))  # noqa: T201
    assert seen["fresh"] > 0
    assert accuracy >= REQUIRED_ACCURACY


async def test_a_hashtag_decides_the_topic(topics: list[Topic]) -> None:
    topic, named = choose_topic(topics, "Как зарегистрировать АНО? #гранты")
    assert (topic and topic.code, named) == ("grants", True)
    topic, named = choose_topic(topics, "Как зарегистрировать АНО? #нетакоготега")
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
async def test_stems_in_russian_and_english(topics: list[Topic], text: str, code: str) -> None:
    suggestion = suggest_topic(topics, text)
    assert suggestion.topic is not None and suggestion.topic.code == code, suggestion


@pytest.mark.parametrize("text", ["", "   ", "12345", "!!!", "Привет всем", "🙂🙂🙂"])
async def test_text_without_keywords_gets_the_catch_all_topic(
    topics: list[Topic], text: str
) -> None:
    suggestion = suggest_topic(topics, text)
    assert suggestion.topic is not None and suggestion.topic.code == "other"
    assert suggestion.score == 0


def test_short_keywords_match_whole_words_only() -> None:
    legal = Topic(
        id=1, code="legal", title_ru="Право", title_en="Law", hashtags=[], keywords=["ано"]
    )
    other = Topic(id=2, code="other", title_ru="Другое", title_en="Other", hashtags=[], keywords=[])
    assert suggest_topic([legal, other], "Регистрация АНО").topic is legal
    assert suggest_topic([legal, other], "Анонс встречи").topic is other


def _topic(id_: int, code: str, keywords: list[str]) -> Topic:
    return Topic(
        id=id_, code=code, title_ru=code, title_en=code, hashtags=[code], keywords=keywords
    )


def test_without_keywords_the_classifier_guesses_from_examples() -> None:
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
    classifier = TopicClassifier.train({t.code: t.keywords for t in topics}, examples)

    guess = suggest_topic(topics, "Бессонница замучила, что делать", classifier)
    assert guess.topic is psychology and guess.score == 0
    assert suggest_topic(topics, "Встреча группы будет?", classifier).topic is other
    # Keywords still decide when they match; words never seen get the catch-all topic.
    assert suggest_topic(topics, "АНО и бессонница", classifier).topic is legal
    assert suggest_topic(topics, "Абракадабра", classifier).topic is other


async def test_a_classifier_trained_without_a_row_still_handles_obvious_requests(
    topics: list[Topic],
) -> None:
    examples = shipped_examples()
    keywords = {topic.code: topic.keywords for topic in topics}
    for left_out in (0, len(examples) // 2, len(examples) - 1):
        classifier = TopicClassifier.train(keywords, examples[:left_out] + examples[left_out + 1 :])
        topic, named = choose_topic(topics, "Кто поможет с бизнес-планом? #гранты", classifier)
        assert (topic and topic.code, named) == ("grants", True)
        suggestion = suggest_topic(topics, "How do I register an NGO?", classifier)
        assert suggestion.topic is not None and suggestion.topic.code == "legal"
        suggestion = suggest_topic(topics, "Спасибо всем!", classifier)
        assert suggestion.topic is not None and suggestion.topic.code == "other"


async def test_the_classifier_is_trained_once_per_set_of_keywords(topics: list[Topic]) -> None:
    assert classifier_for(topics) is classifier_for(list(topics))
    changed = [_topic(1, "legal", ["ано"]), _topic(2, "other", [])]
    assert classifier_for(changed) is not classifier_for(topics)
