"""The /schedule parser: every accepted form, every refusal, and no crash on any text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.schedule_parser import (
    ScheduleError,
    ScheduleProblem,
    TitleRule,
    clean_title,
    parse_schedule,
)

# Nothing here touches the suite's database: the PostgreSQL run leaves it out.
pytestmark = pytest.mark.no_database

# Monday 20 February 2027, 12:00 in Moscow.
NOW = datetime(2027, 2, 20, 9, 0, tzinfo=UTC)
MSK = "Europe/Moscow"
TITLE = "Видеоконференция с координаторами Луганской и Донецкой групп"


def parse(text: str, zone: str = MSK, title: TitleRule = TitleRule.required) -> object:
    return parse_schedule(text, now=NOW, default_zone=zone, title=title)


def at(text: str, zone: str = MSK) -> datetime:
    return parse_schedule(text, now=NOW, default_zone=zone).starts_at


def problem(text: str, title: TitleRule = TitleRule.required) -> ScheduleProblem:
    with pytest.raises(ScheduleError) as caught:
        parse_schedule(text, now=NOW, default_zone=MSK, title=title)
    return caught.value.problem


def test_the_programme_conference_from_the_seed() -> None:
    request = parse_schedule(f"27.02.2027 15:00 MSK {TITLE}", now=NOW, default_zone="UTC")
    assert request.starts_at == datetime(2027, 2, 27, 12, 0, tzinfo=UTC)
    assert request.zone == "Europe/Moscow"
    assert request.title == TITLE
    assert request.duration is None
    assert request.link is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("27.02 15:00 Вебинар", datetime(2027, 2, 27, 12, 0, tzinfo=UTC)),
        ("27.02.27 15:00 Вебинар", datetime(2027, 2, 27, 12, 0, tzinfo=UTC)),
        ("2027-02-27 15:00 Вебинар", datetime(2027, 2, 27, 12, 0, tzinfo=UTC)),
        ("завтра 15:00 Консультация юриста", datetime(2027, 2, 21, 12, 0, tzinfo=UTC)),
        ("завтра в 15:00 Консультация", datetime(2027, 2, 21, 12, 0, tzinfo=UTC)),
        ("послезавтра 10:30 Разбор заявок", datetime(2027, 2, 22, 7, 30, tzinfo=UTC)),
        ("tomorrow 3pm Grant clinic", datetime(2027, 2, 21, 12, 0, tzinfo=UTC)),
        ("tomorrow at 3 pm Grant clinic", datetime(2027, 2, 21, 12, 0, tzinfo=UTC)),
        ("в понедельник 15:00 Планёрка", datetime(2027, 2, 22, 12, 0, tzinfo=UTC)),
        ("27 февраля 15:00 Вебинар", datetime(2027, 2, 27, 12, 0, tzinfo=UTC)),
        ("15:00 завтра Вебинар", datetime(2027, 2, 21, 12, 0, tzinfo=UTC)),
        ("сегодня 18:00:30 Вебинар", datetime(2027, 2, 20, 15, 0, 30, tzinfo=UTC)),
    ],
)
def test_accepted_dates(text: str, expected: datetime) -> None:
    assert at(text) == expected


def test_a_date_without_a_year_long_past_means_next_year() -> None:
    assert at("10.01 10:00 Новогодняя встреча") == datetime(2028, 1, 10, 7, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "zone", "expected_utc_hour", "canonical"),
    [
        ("27.02 18:00 Asia/Omsk Консультация", MSK, 12, "Asia/Omsk"),
        ("27.02 18:00 UTC+6 Консультация", MSK, 12, "UTC+06:00"),
        ("27.02 15:00 МСК Консультация", "Asia/Omsk", 12, "Europe/Moscow"),
        # No zone in the text: the default given by the caller (the author's, the chat's...).
        ("27.02 18:00 Консультация", "Asia/Omsk", 12, "Asia/Omsk"),
    ],
)
def test_zones(text: str, zone: str, expected_utc_hour: int, canonical: str) -> None:
    request = parse_schedule(text, now=NOW, default_zone=zone)
    assert request.starts_at.hour == expected_utc_hour
    assert request.zone == canonical


def test_duration_and_link_in_any_order_and_at_the_end() -> None:
    first = parse_schedule(
        "27.02 15:00 90m https://meet.jit.si/donbass MSK Разбор заявок",
        now=NOW,
        default_zone=MSK,
    )
    assert first.duration == timedelta(minutes=90)
    assert first.link == "https://meet.jit.si/donbass"
    assert first.zone == MSK
    assert first.title == "Разбор заявок"
    second = parse_schedule(
        "27.02 15:00 Разбор заявок 1ч30м https://zoom.us/j/123", now=NOW, default_zone=MSK
    )
    assert second.duration == timedelta(hours=1, minutes=30)
    assert second.link == "https://zoom.us/j/123"
    assert second.title == "Разбор заявок"


def test_a_zone_word_inside_the_title_stays_there() -> None:
    request = parse_schedule("27.02 15:00 Переход на UTC в отчётах", now=NOW, default_zone=MSK)
    assert request.title == "Переход на UTC в отчётах"
    assert request.zone == MSK


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("19.02 15:00 Вчерашняя встреча", ScheduleProblem.past),
        ("20.02 11:00 Утренняя встреча", ScheduleProblem.past),
        ("сегодня 08:00 Утренняя встреча", ScheduleProblem.past),
        ("31.02 15:00 Встреча", ScheduleProblem.bad_date),
        ("30.02.2027 15:00 Встреча", ScheduleProblem.bad_date),
        ("27.13 15:00 Встреча", ScheduleProblem.bad_date),
        ("27.02 25:00 Встреча", ScheduleProblem.bad_time),
        ("27.02 15:75 Встреча", ScheduleProblem.bad_time),
        ("27.02 13pm Встреча", ScheduleProblem.bad_time),
        ("27.02 Встреча без времени", ScheduleProblem.bad_time),
        ("Встреча завтра", ScheduleProblem.no_date),
        ("завтра", ScheduleProblem.no_date),
        ("", ScheduleProblem.no_date),
        ("27.02 15:00 UTC+99 Встреча", ScheduleProblem.unknown_zone),
        ("27.02 15:00 Europe/Atlantis Встреча", ScheduleProblem.unknown_zone),
        ("27.02 15:00", ScheduleProblem.no_title),
        ("27.02 15:00 MSK 90m", ScheduleProblem.no_title),
        ("27.02 15:00 1m Встреча", ScheduleProblem.bad_duration),
        ("27.02 15:00 30h Встреча", ScheduleProblem.bad_duration),
        ("27.02.2031 15:00 Встреча", ScheduleProblem.too_far),
        ("27.02 15:00 " + "Очень длинное название " * 220, ScheduleProblem.title_too_long),
        ("27.02 15:00 https://x.org/" + "a" * 600 + " Встреча", ScheduleProblem.bad_link),
    ],
)
def test_refusals(text: str, expected: ScheduleProblem) -> None:
    assert problem(text) == expected


def test_a_five_thousand_character_title_is_refused() -> None:
    assert problem("27.02 15:00 " + "Я" * 5000) == ScheduleProblem.title_too_long


def test_reschedule_takes_no_title_and_a_ticket_call_may_have_none() -> None:
    moved = parse_schedule("28.02 16:00 UTC+6", now=NOW, default_zone=MSK, title=TitleRule.none)
    assert moved.starts_at == datetime(2027, 2, 28, 10, 0, tzinfo=UTC)
    assert problem("28.02 16:00 и ещё слова", TitleRule.none) == ScheduleProblem.extra_text
    call = parse_schedule("завтра 11:00", now=NOW, default_zone=MSK, title=TitleRule.optional)
    assert call.title == ""


def test_clean_title() -> None:
    assert clean_title("  Разбор   грантовых заявок ") == "Разбор грантовых заявок"
    with pytest.raises(ScheduleError):
        clean_title("   ")
    with pytest.raises(ScheduleError):
        clean_title("Я" * 201)


_words = st.sampled_from(
    [
        "27.02",
        "31.02",
        "2027-02-27",
        "99.99.9999",
        "завтра",
        "tomorrow",
        "в",
        "at",
        "15:00",
        "3pm",
        "25:61",
        "pm",
        "MSK",
        "UTC+6",
        "UTC+99",
        "Asia/Omsk",
        "Mars/Base",
        "90m",
        "0m",
        "1h30m",
        "9999999h",
        "https://meet.jit.si/x",
        "Вебинар",
        "#42",
        "<b>",
        "&amp;",
        "",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(_words, st.text(max_size=12)), max_size=8))
def test_no_text_crashes_the_parser(words: list[str]) -> None:
    text = " ".join(words)
    for rule in TitleRule:
        try:
            request = parse_schedule(text, now=NOW, default_zone=MSK, title=rule)
        except ScheduleError:
            continue
        assert request.starts_at > NOW
        assert request.starts_at.tzinfo is not None
        assert len(request.title) <= 200


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_no_arbitrary_text_crashes_the_parser(text: str) -> None:
    try:
        parse_schedule(text, now=NOW, default_zone=MSK)
    except ScheduleError:
        return
