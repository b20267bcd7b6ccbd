"""The labelled requests of ``tests/data`` as the topic tests and benches read them (see
``tests/test_topic_suggest.py`` for how each set was written)."""

from __future__ import annotations

import csv
from pathlib import Path

from bot.domain.topic_text import OWN_EXAMPLE_WEIGHT, Example, shipped_examples
from models import Topic

DATA = Path(__file__).parent / "data"
# A new programme's six project groups, as its coordinator would title them (seed 001).
SIX_GROUPS = {
    "culture": "Культура",
    "healthcare": "Здравоохранение",
    "family": "Семья и дети",
    "sport": "Спорт",
    "silver_age": "Профессиональная подготовка и переподготовка «серебряного возраста»",
    "youth": "Профессиональная подготовка молодёжи",
}


def rows(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def every_text() -> list[str]:
    """Every labelled request: the shipped examples and every set in tests/data."""
    texts = [example.text for example in shipped_examples()]
    for path in sorted(DATA.glob("*.tsv")):
        texts += [row["text"] for row in rows(path.name)]
    return texts


def six_groups() -> list[Topic]:
    """The new programme's topics: titles only, no keywords."""
    return [
        Topic(id=n, code=code, title_ru=title, title_en=code, hashtags=[], keywords=[])
        for n, (code, title) in enumerate(SIX_GROUPS.items(), start=1)
    ]


def six_group_corrections() -> list[Example]:
    """The coordinator's 10 corrections for each of the six topics."""
    return [
        Example(row["topic"], row["text"], OWN_EXAMPLE_WEIGHT)
        for row in rows("six_groups_ru.tsv")
        if row["set"] == "train"
    ]
