"""Settings parsing, time zones and durations as people type them."""

from __future__ import annotations

import contextlib
from datetime import timedelta

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.config import Settings
from bot.time.durations import format_duration, parse_duration
from bot.time.zones import UnknownZoneError, normalize_zone, zone

# Nothing here touches the suite's database: the PostgreSQL run leaves it out.
pytestmark = pytest.mark.no_database


def make(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def test_defaults_match_the_spec() -> None:
    settings = make()
    assert settings.bot_token is None
    assert settings.database_url.startswith("sqlite+aiosqlite:///data/")
    assert settings.reminder_offsets == [
        timedelta(hours=24),
        timedelta(hours=1),
        timedelta(minutes=10),
    ]
    assert settings.claim_sla == timedelta(hours=4)
    assert settings.default_timezone == "Europe/Moscow"
    assert settings.telegram_api_base == "https://api.telegram.org"


def test_values_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_IDS", "101, 202")
    monkeypatch.setenv("REMINDER_OFFSETS", "10m,2d,1h30m")
    monkeypatch.setenv("CLAIM_SLA", "90m")
    monkeypatch.setenv("DEFAULT_TIMEZONE", "UTC+6")
    monkeypatch.setenv("BOT_TOKEN", "123:abc")
    monkeypatch.setenv("TELEGRAM_API_BASE", "http://127.0.0.1:8081/")
    settings = make()
    assert settings.admin_ids == [101, 202]
    assert settings.is_admin(202) and not settings.is_admin(303)
    assert settings.reminder_offsets == [
        timedelta(days=2),
        timedelta(minutes=90),
        timedelta(minutes=10),
    ]
    assert settings.claim_sla == timedelta(minutes=90)
    assert settings.default_timezone == "UTC+06:00"
    assert settings.token == "123:abc"
    assert settings.telegram_api_base == "http://127.0.0.1:8081"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("admin_ids", "12,abc"),
        ("default_timezone", "Mars/Olympus"),
        ("reminder_offsets", "soon"),
        ("default_language", "de"),
        ("mentor_capacity", "0"),
    ],
)
def test_bad_settings_are_refused(field: str, value: str) -> None:
    with pytest.raises(ValidationError):
        make(**{field: value})


def test_webhook_requires_a_secret() -> None:
    with pytest.raises(ValidationError, match="WEBHOOK_SECRET"):
        make(webhook_url="https://example.org/hook")
    settings = make(webhook_url="https://example.org/tg/hook", webhook_secret="s3cret")
    assert settings.webhook_path == "/tg/hook"


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("MSK", "Europe/Moscow"),
        ("мск", "Europe/Moscow"),
        ("UTC+6", "UTC+06:00"),
        ("utc-3:30", "UTC-03:30"),
        ("GMT+0", "UTC"),
        ("asia/omsk", "Asia/Omsk"),
        ("Europe/Warsaw", "Europe/Warsaw"),
    ],
)
def test_zones_people_type(typed: str, canonical: str) -> None:
    assert normalize_zone(typed) == canonical
    zone(canonical)


@pytest.mark.parametrize("typed", ["UTC+99", "UTC+14:30", "Atlantis", "", "x" * 100, "Asia/"])
def test_unknown_zones(typed: str) -> None:
    with pytest.raises(UnknownZoneError):
        normalize_zone(typed)


@given(st.text(max_size=80))
def test_zone_parser_never_crashes(text: str) -> None:
    try:
        name = normalize_zone(text)
    except UnknownZoneError:
        return
    zone(name)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("90m", timedelta(minutes=90)),
        ("1h30m", timedelta(minutes=90)),
        ("45", timedelta(minutes=45)),
        ("2d", timedelta(days=2)),
        ("10s", timedelta(seconds=10)),
    ],
)
def test_durations(typed: str, expected: timedelta) -> None:
    assert parse_duration(typed) == expected
    assert parse_duration(format_duration(expected)) == expected


@given(st.text(max_size=30))
@example("1440000000000")  # more minutes than a timedelta holds: refused, not an overflow
@example("99999999999999d")
def test_duration_parser_only_raises_value_error(text: str) -> None:
    with contextlib.suppress(ValueError):
        parse_duration(text)
