"""Dates, weekdays and numbers in each language come from Babel; language codes map to ours."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from bot.config import Settings
from bot.domain.office_hours import parse_hours
from bot.domain.people import language_of
from bot.domain.stats import PeriodKind, parse_period
from bot.i18n import create_i18n, locale
from bot.languages import LANGUAGES, spoken
from bot.views.dates import date_label, day_label, weekday_names
from bot.views.meetings import duration_text, local_time, time_left
from bot.views.stats import decimal, percent
from models import Person, Topic

# Nothing here touches the suite's database: the PostgreSQL run leaves it out.
pytestmark = pytest.mark.no_database

SATURDAY = datetime(2027, 2, 27, 14, 0, tzinfo=UTC)
MONDAY = date(2026, 12, 7)


def test_weekday_names_in_each_language() -> None:
    assert weekday_names("pl") == ["Pon.", "Wt.", "Śr.", "Czw.", "Pt.", "Sob.", "Niedz."]
    assert weekday_names("ru") == ["Пн", "Вт", "Ср", "Чт", "Пт", "Сб", "Вс"]
    assert weekday_names("en") == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def test_a_mentor_reads_back_the_weekdays_the_bot_writes() -> None:
    """Each language's names, as the bot shows them, are read by /hours as the same days."""
    for language in LANGUAGES:
        text = ", ".join(f"{name} 10:00-11:00" for name in weekday_names(language))
        assert [s.weekday for s in parse_hours(text).stretches] == list(range(7)), language


def test_days_follow_the_language_of_the_text_being_rendered() -> None:
    i18n = create_i18n()
    with locale(i18n, "pl"):
        assert day_label(MONDAY) == "Pon. 07.12"
        assert date_label(MONDAY) == "Pon. 07.12.2026"
    with locale(i18n, "ru"):
        assert day_label(MONDAY) == "Пн 07.12"
    with locale(i18n, "en"):
        assert date_label(MONDAY) == "Mon 07.12.2026"


def test_a_meetings_time_reads_right_in_polish_russian_and_english() -> None:
    assert (
        local_time(SATURDAY, "Europe/Warsaw", "pl") == "sob. 27 lutego 2027, 15:00 Warszawa (UTC+1)"
    )
    assert local_time(SATURDAY, "Europe/Moscow", "ru") == "сб 27 февраля 2027, 17:00 МСК"
    assert local_time(SATURDAY, "Asia/Omsk", "en") == "Sat 27 February 2027, 20:00 Omsk (UTC+6)"
    # A summer date: Polish months take the genitive after a day's number.
    july = datetime(2027, 7, 5, 8, 30, tzinfo=UTC)
    assert local_time(july, "Europe/Warsaw", "pl") == "pon. 5 lipca 2027, 10:30 Warszawa (UTC+2)"


def test_durations_and_numbers_in_polish() -> None:
    with locale(create_i18n(), "pl"):
        assert duration_text(SATURDAY - datetime(2027, 2, 27, 12, 30, tzinfo=UTC)) == "1 h 30 min"
        assert time_left(SATURDAY - datetime(2027, 2, 24, 14, 0, tzinfo=UTC)) == "za 3 d."
    assert decimal(4.25, "pl") == "4,2"
    assert decimal(1234.5, "pl") == "1234,5"
    assert percent(0.875, "pl") == "88%"
    assert decimal(4.25, "en") == "4.2"


def test_polish_period_words_for_stats() -> None:
    now = datetime(2026, 12, 2, 12, tzinfo=UTC)
    for text, kind in [
        ("tydzień", PeriodKind.week),
        ("miesiąc", PeriodKind.month),
        ("kwartal", PeriodKind.quarter),
        ("wszystko", PeriodKind.all),
    ]:
        assert parse_period(text, now, "Europe/Warsaw").kind is kind, text


@pytest.mark.parametrize(
    ("code", "expected"),
    [("pl", "pl"), ("pl-PL", "pl"), ("PL", "pl"), ("ru", "ru"), ("en-GB", "en"), ("de", None)],
)
def test_telegrams_language_codes(code: str, expected: str | None) -> None:
    assert spoken(code) == expected


def test_a_persons_language() -> None:
    polish = Person(telegram_language="pl-PL", language=None)
    assert language_of(polish, "ru") == "pl"
    german = Person(telegram_language="de", language=None)
    assert language_of(german, "pl") == "pl"
    chosen = Person(telegram_language="pl", language="en")
    assert language_of(chosen, "ru") == "en"


def test_default_language_may_be_polish_and_nothing_else_unknown() -> None:
    assert Settings(_env_file=None, default_language="pl").default_language == "pl"
    with pytest.raises(ValidationError, match="ru, en, pl"):
        Settings(_env_file=None, default_language="de")


def test_topic_titles_in_the_readers_language() -> None:
    topic = Topic(
        code="legal",
        title_ru="Юридические вопросы",
        title_en="Legal matters",
        title_pl="Kwestie prawne",
    )
    assert [topic.title(language) for language in ("ru", "en", "pl", "de")] == [
        "Юридические вопросы",
        "Legal matters",
        "Kwestie prawne",
        "Юридические вопросы",
    ]
