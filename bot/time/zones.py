"""Time zones as people type them (``MSK``, ``UTC+6``, ``Омск``) and as people read them.

A canonical name (``Asia/Omsk``, ``UTC+06:00``) is what the database keeps; :func:`zone_label`
is the only way one is shown to a person: ``МСК`` in Russian, else ``Омск (UTC+6)``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from babel.dates import get_timezone_location

# Abbreviations that activists and mentors of the seed programmes actually use.
_ABBREVIATIONS = {
    "MSK": "Europe/Moscow",
    "МСК": "Europe/Moscow",
    "OMST": "Asia/Omsk",
    "ОМСК": "Asia/Omsk",
    "YEKT": "Asia/Yekaterinburg",
    "NOVT": "Asia/Novosibirsk",
    "KRAT": "Asia/Krasnoyarsk",
    "CET": "Europe/Warsaw",
    "CEST": "Europe/Warsaw",
    "UTC": "UTC",
    "GMT": "UTC",
    # Cities, as the help's examples name them in each language.
    "МОСКВА": "Europe/Moscow",
    "MOSCOW": "Europe/Moscow",
    "MOSKWA": "Europe/Moscow",
    "OMSK": "Asia/Omsk",
    "ЕКАТЕРИНБУРГ": "Asia/Yekaterinburg",
    "НОВОСИБИРСК": "Asia/Novosibirsk",
    "КРАСНОЯРСК": "Asia/Krasnoyarsk",
    "WARSZAWA": "Europe/Warsaw",
    "WARSAW": "Europe/Warsaw",
    "ВАРШАВА": "Europe/Warsaw",
}
MOSCOW = "Europe/Moscow"
_OFFSET = re.compile(r"^(?:UTC|GMT)\s*([+-−])\s*(\d{1,2})(?::?(\d{2}))?$", re.IGNORECASE)
_MAX_OFFSET_HOURS = 14


class UnknownZoneError(ValueError):
    """The text names no time zone we know."""


def _iana_lookup() -> dict[str, str]:
    return {name.lower(): name for name in available_timezones()}


def normalize_zone(text: str) -> str:
    """Return the canonical name of a zone typed by a person, or raise ``UnknownZoneError``.

    Canonical names are IANA names (``Asia/Omsk``) or fixed offsets written ``UTC+06:00``.
    """
    raw = text.strip()
    if not raw or len(raw) > 64:
        raise UnknownZoneError(text)
    upper = raw.upper()
    if upper in _ABBREVIATIONS:
        return _ABBREVIATIONS[upper]
    match = _OFFSET.match(raw)
    if match:
        sign, hours_text, minutes_text = match.groups()
        hours, minutes = int(hours_text), int(minutes_text or 0)
        if hours > _MAX_OFFSET_HOURS or minutes >= 60 or (hours == _MAX_OFFSET_HOURS and minutes):
            raise UnknownZoneError(text)
        if hours == 0 and minutes == 0:
            return "UTC"
        symbol = "-" if sign in "-−" else "+"
        return f"UTC{symbol}{hours:02d}:{minutes:02d}"
    name = _iana_lookup().get(raw.lower())
    if name is None:
        raise UnknownZoneError(text)
    return name


def zone(name: str) -> tzinfo:
    """The ``tzinfo`` for a canonical zone name produced by :func:`normalize_zone`."""
    match = _OFFSET.match(name)
    if match:
        sign, hours_text, minutes_text = match.groups()
        delta = timedelta(hours=int(hours_text), minutes=int(minutes_text or 0))
        return timezone(-delta if sign in "-−" else delta, name)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise UnknownZoneError(name) from error


def zone_label(name: str, language: str, at: datetime | None = None) -> str:
    """A canonical zone as a reader of ``language`` says it, with its offset at ``at`` (now).

    ``МСК`` for Moscow in Russian; otherwise Babel's city name in the reader's language and the
    offset: ``Омск (UTC+6)``, ``Warszawa (UTC+2)``; a bare offset is ``UTC+6``.
    """
    if name == MOSCOW and language == "ru":
        return "МСК"
    here = zone(name)
    offset = _offset_text((at or datetime.now(UTC)).astimezone(here).utcoffset() or timedelta())
    if not isinstance(here, ZoneInfo) or name == "UTC" or name.startswith("Etc/"):
        return offset
    city = get_timezone_location(here, locale=language, return_city=True)
    return f"{city} ({offset})"


def _offset_text(offset: timedelta) -> str:
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")
