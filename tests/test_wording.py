"""Russian and Polish as their readers write them: every catalogue entry is free of zone ids,
bare UTC, "заявка" and "(а)" forms; zones are named as people say them; the examples the help
gives in each language are ones the parsers read."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from bot.domain.office_hours import parse_hours
from bot.domain.schedule_parser import parse_schedule
from bot.i18n import create_i18n, locale
from bot.telegram.commands import COMMANDS, EVERYONE
from bot.time.zones import normalize_zone, zone_label
from bot.views.topics import reader_tags
from models import Topic

pytestmark = pytest.mark.no_database

LOCALES = Path(__file__).resolve().parent.parent / "bot" / "locales"
ZONE_ID = re.compile(r"\b(?:Africa|America|Asia|Atlantic|Australia|Europe|Indian|Pacific|Etc)/\w+")
BARE_UTC = re.compile(r"\bUTC\b(?!\s*[+\-−]\d)")
GENDER_FORM = re.compile(r"\w\((?:а|a)\)")
WINTER = datetime(2027, 1, 15, 12, 0, tzinfo=UTC)
SUMMER = datetime(2027, 7, 15, 12, 0, tzinfo=UTC)


def shown_texts(language: str) -> list[str]:
    """What a reader of the language sees: the translation, or the English msgid."""
    with (LOCALES / language / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle)
    texts: list[str] = []
    for message in catalog:
        if not message.id:
            continue
        ids = [str(i) for i in (message.id if isinstance(message.id, tuple) else (message.id,))]
        string = message.string
        strings = [str(s) for s in (string if isinstance(string, tuple) else (string,)) if s]
        texts += strings or ids
    return texts


@pytest.mark.parametrize("language", ["ru", "en", "pl"])
def test_no_catalogue_entry_names_a_zone_id_bare_utc_or_a_gender_form(language: str) -> None:
    texts = shown_texts(language)
    assert len(texts) > 500
    assert [t for t in texts if ZONE_ID.search(t)] == []
    assert [t for t in texts if BARE_UTC.search(t)] == []
    assert [t for t in texts if GENDER_FORM.search(t)] == []
    assert [t for t in texts if "заявк" in t.lower()] == []


def test_the_checks_catch_what_they_look_for() -> None:
    assert ZONE_ID.search("время — Europe/Moscow")
    assert BARE_UTC.search("действует до 08.12.2026 10:27 UTC")
    assert not BARE_UTC.search("Омск (UTC+6)")
    assert GENDER_FORM.search("Запрос взял(а) Ирина") and GENDER_FORM.search("ocenił(a)")


def test_moscow_is_msk_in_russian() -> None:
    assert zone_label("Europe/Moscow", "ru", WINTER) == "МСК"
    assert zone_label("Europe/Moscow", "ru", SUMMER) == "МСК"
    assert zone_label("Europe/Moscow", "en", WINTER) == "Moscow (UTC+3)"


def test_other_zones_are_a_city_in_the_readers_language_with_its_offset() -> None:
    assert zone_label("Asia/Omsk", "ru", WINTER) == "Омск (UTC+6)"
    assert zone_label("Asia/Omsk", "en", WINTER) == "Omsk (UTC+6)"
    assert zone_label("Europe/Warsaw", "pl", WINTER) == "Warszawa (UTC+1)"
    assert zone_label("Europe/Warsaw", "pl", SUMMER) == "Warszawa (UTC+2)"
    assert zone_label("Europe/Moscow", "pl", WINTER) == "Moskwa (UTC+3)"
    assert zone_label("Asia/Kolkata", "en", WINTER) == "Kolkata (UTC+5:30)"


def test_fixed_offsets_and_utc_are_shown_as_offsets() -> None:
    assert zone_label("UTC+06:00", "ru", WINTER) == "UTC+6"
    assert zone_label("UTC-03:30", "pl", WINTER) == "UTC-3:30"
    assert zone_label("UTC", "ru", WINTER) == "UTC+0"


def test_the_zones_given_as_examples_are_understood() -> None:
    assert normalize_zone("Омск") == "Asia/Omsk"
    assert normalize_zone("МСК") == "Europe/Moscow"
    assert normalize_zone("Екатеринбург") == "Asia/Yekaterinburg"
    assert normalize_zone("Warszawa") == "Europe/Warsaw"
    assert normalize_zone("Moskwa") == "Europe/Moscow"
    assert normalize_zone("Omsk") == "Asia/Omsk"


@pytest.mark.parametrize(
    ("text", "zone_name", "minutes"),
    [
        ("27.02 15:00 МСК 90мин Видеоконференция с координаторами", "Europe/Moscow", 90),
        ("27.02 15:00 CET 90min Wideokonferencja z koordynatorami", "Europe/Warsaw", 90),
        ("завтра 15:00 1ч30м Созвон", "Asia/Omsk", 90),
        ("jutro 15:00 1h30min Spotkanie", "Asia/Omsk", 90),
        ("27.02 15:00 Омск Созвон", "Asia/Omsk", None),
    ],
)
def test_the_schedule_examples_of_each_language_parse(
    text: str, zone_name: str, minutes: int | None
) -> None:
    request = parse_schedule(text, now=WINTER, default_zone="Asia/Omsk")
    assert request.zone == zone_name
    expected = None if minutes is None else minutes * 60
    assert (request.duration.total_seconds() if request.duration else None) == expected


@pytest.mark.parametrize("text", ["Пн-Пт 9-11 45мин", "pon-pt 9-11 45min"])
def test_the_office_hours_examples_parse(text: str) -> None:
    assert parse_hours(text).slot.total_seconds() == 45 * 60


def test_topics_list_the_hashtags_of_the_readers_language_and_the_code() -> None:
    topic = Topic(code="legal", hashtags=["юрист", "право", "legal", "law", "prawnik", "prawo"])
    assert reader_tags(topic, "ru") == "#legal #юрист #право"
    assert reader_tags(topic, "en") == "#legal #law #prawnik #prawo"
    business = Topic(code="business", hashtags=["бизнес", "biznes", "przedsiębiorczość"])
    assert reader_tags(business, "en") == "#business #biznes"
    assert reader_tags(business, "pl") == "#business #biznes #przedsiębiorczość"


def test_an_activists_help_shows_no_coordinators_line() -> None:
    topics = next(c for c in COMMANDS if c.name == "topics")
    with locale(create_i18n(), "ru"):
        assert topics.for_coordinators is not None and "измен" in str(topics.for_coordinators)
        for command in COMMANDS:
            if EVERYONE in command.audience:
                assert "координатор" not in str(command.description), command.name
