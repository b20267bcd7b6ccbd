"""Days as readers see them: weekday names from Babel's locale data, in the current language.

Dates stay numeric (``27.02``, ``27.02.2027``) because those are the forms people type back to
the bot (``/hours off 01.05``, ``/consultations 07.12``, ``/stats 01.02.2027-28.02.2027``); the
words around them come from Babel, so a language needs no hand-written table of names.
"""

from __future__ import annotations

import html
from datetime import date, datetime

from aiogram.utils.i18n import get_i18n
from babel.dates import format_date, get_day_names

from bot.time.zones import zone_label

DAY = "dd.MM"
DATE = "dd.MM.y"


def current_language() -> str:
    """The language of the text being rendered: the reader's, as the i18n context holds it."""
    return get_i18n().current_locale


def zone_text(zone_name: str, at: datetime | None = None) -> str:
    """A zone as the reader says it (``МСК``, ``Омск (UTC+6)``), escaped for HTML."""
    return html.escape(zone_label(zone_name, current_language(), at))


def weekday_names(language: str | None = None) -> list[str]:
    """Abbreviated weekday names, Monday first, capitalised to open a line or a button:
    ``Пн``, ``Mon``, ``Pon.``."""
    names = get_day_names("abbreviated", locale=language or current_language())
    return [names[day][:1].upper() + names[day][1:] for day in range(7)]


def day_label(day: date, language: str | None = None) -> str:
    """``Пн 07.12``, ``Mon 07.12``, ``Pon. 07.12``."""
    language = language or current_language()
    return f"{weekday_names(language)[day.weekday()]} {format_date(day, DAY, locale=language)}"


def date_label(day: date, language: str | None = None) -> str:
    """``Пн 07.12.2026``: a day with its year."""
    language = language or current_language()
    return f"{weekday_names(language)[day.weekday()]} {format_date(day, DATE, locale=language)}"
