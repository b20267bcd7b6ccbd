"""Reading ``/schedule`` arguments: a date and time, an optional zone, duration and link, a title.

Accepted, in this order: the date (``27.02``, ``27.02.2027``, ``2027-02-27``, or words such as
``завтра``, ``tomorrow``, ``jutro``, ``в понедельник``, ``27 февраля``, ``27 lutego``), the time
(``15:00``, ``3pm``), then in any order a zone (``MSK``, ``UTC+6``, ``Asia/Omsk``, ``Омск``), a
duration (``90m``, ``1h30m``, ``1ч30м``, ``90мин``, ``90min``) and a link, and the rest is the
title; a duration or link may also close the title.
Numeric dates are read strictly here; dateparser reads the worded ones. Anything that cannot
be a meeting (a date in the past, 31.02, ``UTC+99``, no title) raises :class:`ScheduleError`
naming the problem, so the caller can answer with the accepted forms and store nothing.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from bot.domain.errors import InvalidInput
from bot.time.durations import parse_duration
from bot.time.zones import UnknownZoneError, normalize_zone, zone

MAX_TITLE = 200
MAX_LINK = 512
MIN_DURATION = timedelta(minutes=5)
MAX_DURATION = timedelta(hours=12)
# Further ahead than this is more likely a typo in the year than a real plan.
MAX_AHEAD = timedelta(days=2 * 366)
# A date typed without a year that fell this recently is a date in the past, not next year's.
RECENT_PAST = timedelta(days=30)
# Words dateparser reads for a date are few; a longer run before the time is not a date.
MAX_DATE_WORDS = 3

_DOTTED = re.compile(r"^(\d{1,2})\.(\d{1,2})(?:\.(\d{4}|\d{2}))?\.?,?$")
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2}),?$")
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s?(am|pm))?,?$", re.IGNORECASE)
_CLOCK_12 = re.compile(r"^(\d{1,2})(am|pm),?$", re.IGNORECASE)
_BARE_HOUR = re.compile(r"^(\d{1,2})(?::(\d{2}))?$")
_MERIDIEM = re.compile(r"^(am|pm),?$", re.IGNORECASE)
_LINK = re.compile(r"^https?://\S+$", re.IGNORECASE)
_DURATION = re.compile(r"^(?:\d{1,4}[dhms])+$")
_ZONE_LIKE = re.compile(
    r"^(?:(?:UTC|GMT)\s*[+\-−]\s*\d+(?::?\d+)?|[A-Za-z]+/[A-Za-z0-9_+\-/]+)$", re.IGNORECASE
)
_FOUR_DIGITS = re.compile(r"\b\d{4}\b")
_LETTER = re.compile(r"[^\W\d_]")
# Words that may stand between a date and a time and mean nothing by themselves.
_FILLER = {"в", "во", "at", "on", "к", "на", "w", "we", "o"}
_DATEPARSER_SETTINGS = {
    "PREFER_DATES_FROM": "future",
    "RETURN_AS_TIMEZONE_AWARE": False,
    "PREFER_DAY_OF_MONTH": "first",
}

# The numeric forms read in every language; views add worded examples in the reader's.
ACCEPTED_FORMS = (
    "27.02 15:00 · 27.02.2027 15:00 · 2027-02-27 15:00",
    "90m · 1h30m",
)


class ScheduleProblem(enum.StrEnum):
    no_date = "no_date"  # no date and time found at the start
    bad_date = "bad_date"  # a date that does not exist (31.02, 13th month)
    bad_time = "bad_time"  # 25:00, 10:75
    past = "past"
    too_far = "too_far"
    unknown_zone = "unknown_zone"
    bad_duration = "bad_duration"
    bad_link = "bad_link"
    no_title = "no_title"
    title_too_long = "title_too_long"
    extra_text = "extra_text"  # words left over where no title is expected


class ScheduleError(InvalidInput):
    """The text does not describe a meeting; ``problem`` says why, ``fragment`` where."""

    def __init__(self, problem: ScheduleProblem, fragment: str = "") -> None:
        super().__init__(problem.value)
        self.problem = problem
        self.fragment = fragment[:64]


class TitleRule(enum.Enum):
    required = "required"  # /schedule for groups
    optional = "optional"  # a ticket call has a default title
    none = "none"  # /reschedule and the dialogue's "when" step


@dataclass(frozen=True)
class ScheduleRequest:
    starts_at: datetime  # aware, UTC
    zone: str  # canonical name of the zone the time was read in
    duration: timedelta | None
    link: str | None
    title: str


@dataclass
class _Options:
    zone: str | None = None
    duration: timedelta | None = None
    link: str | None = None


def parse_schedule(
    text: str, *, now: datetime, default_zone: str, title: TitleRule = TitleRule.required
) -> ScheduleRequest:
    """Read ``/schedule`` arguments (``/reschedule`` ones with ``title=TitleRule.none``).

    ``now`` is aware; ``default_zone`` is a canonical zone name used when the text names none.
    Raises :class:`ScheduleError`.
    """
    tokens = text.split()
    if not tokens:
        raise ScheduleError(ScheduleProblem.no_date)
    date_words, clock, rest = _split_when(tokens)
    options = _Options()
    rest = _take_options(rest, options, leading=True)
    rest = _take_options(rest[::-1], options, leading=False)[::-1]
    zone_name = options.zone or default_zone
    tz = zone(zone_name)
    today = now.astimezone(tz).date()
    day = _read_date(date_words, today)
    local = datetime.combine(day, clock, tzinfo=tz)
    starts_at = local.astimezone(UTC)
    if starts_at <= now:
        raise ScheduleError(ScheduleProblem.past, " ".join(date_words))
    if starts_at - now > MAX_AHEAD:
        raise ScheduleError(ScheduleProblem.too_far, " ".join(date_words))
    words = " ".join(rest)
    if title is TitleRule.required and not words:
        raise ScheduleError(ScheduleProblem.no_title)
    if title is TitleRule.none and words:
        raise ScheduleError(ScheduleProblem.extra_text, words)
    if len(words) > MAX_TITLE:
        raise ScheduleError(ScheduleProblem.title_too_long, words)
    return ScheduleRequest(
        starts_at=starts_at,
        zone=zone_name,
        duration=options.duration,
        link=options.link,
        title=words,
    )


def _split_when(tokens: list[str]) -> tuple[list[str], time, list[str]]:
    """Find the time among the first words: the words before it are the date."""
    for index, token in enumerate(tokens[: MAX_DATE_WORDS + 1]):
        found = _read_clock(tokens, index)
        if found is None:
            continue
        clock, used = found
        date_words = [word for word in tokens[:index] if word.lower() not in _FILLER]
        rest = tokens[index + used :]
        if not date_words and rest:
            # "15:00 завтра": the time came first.
            date_words, rest = [rest[0]], rest[1:]
        if not date_words:
            raise ScheduleError(ScheduleProblem.no_date, token)
        return date_words, clock, rest
    if _BARE_HOUR.match(tokens[0]) is None and _looks_like_date(tokens[0]):
        # A date with no time after it.
        raise ScheduleError(ScheduleProblem.bad_time, " ".join(tokens[:2]))
    raise ScheduleError(ScheduleProblem.no_date, " ".join(tokens[:3]))


def _looks_like_date(token: str) -> bool:
    return bool(_DOTTED.match(token) or _ISO.match(token))


def _read_clock(tokens: list[str], index: int) -> tuple[time, int] | None:
    """The time written at ``tokens[index]`` and how many words it took, or None."""
    token = tokens[index]
    following = tokens[index + 1] if index + 1 < len(tokens) else ""
    match = _CLOCK.match(token)
    if match:
        hour, minute, second, meridiem = match.groups()
        if meridiem is None and _MERIDIEM.match(following):
            return _clock(token, hour, minute, second, following.rstrip(",")), 2
        return _clock(token, hour, minute, second, meridiem), 1
    match = _CLOCK_12.match(token)
    if match:
        return _clock(token, match.group(1), None, None, match.group(2)), 1
    match = _BARE_HOUR.match(token)
    if match and _MERIDIEM.match(following):
        return _clock(token, match.group(1), match.group(2), None, following.rstrip(",")), 2
    return None


def _clock(
    token: str,
    hour_text: str,
    minute_text: str | None,
    second_text: str | None,
    meridiem: str | None,
) -> time:
    hour, minute, second = int(hour_text), int(minute_text or 0), int(second_text or 0)
    if meridiem is not None:
        if not 1 <= hour <= 12:
            raise ScheduleError(ScheduleProblem.bad_time, token)
        hour = hour % 12 + (12 if meridiem.lower() == "pm" else 0)
    if hour > 23 or minute > 59 or second > 59:
        raise ScheduleError(ScheduleProblem.bad_time, token)
    return time(hour, minute, second)


def _take_options(tokens: list[str], options: _Options, *, leading: bool) -> list[str]:
    """Consume zone, duration and link words from the front of ``tokens``; return the rest.

    A zone is read only right after the time (``leading``): at the end of a title a word
    like ``UTC`` is more likely part of it.
    """
    index = 0
    while index < len(tokens):
        if not _take_option(tokens[index], options, leading=leading):
            break
        index += 1
    return tokens[index:]


def _take_option(token: str, options: _Options, *, leading: bool) -> bool:
    if _LINK.match(token):
        if options.link is not None:
            return False
        if len(token) > MAX_LINK:
            raise ScheduleError(ScheduleProblem.bad_link, token)
        options.link = token
        return True
    duration = _read_duration(token)
    if duration is not None:
        if options.duration is not None:
            return False
        if not MIN_DURATION <= duration <= MAX_DURATION:
            raise ScheduleError(ScheduleProblem.bad_duration, token)
        options.duration = duration
        return True
    if not leading or options.zone is not None:
        return False
    try:
        options.zone = normalize_zone(token)
    except UnknownZoneError:
        if _ZONE_LIKE.match(token):
            raise ScheduleError(ScheduleProblem.unknown_zone, token) from None
        return False
    return True


def _read_duration(token: str) -> timedelta | None:
    word = token.lower().rstrip(",")
    for spelled, unit in (("мин", "m"), ("min", "m"), ("ч", "h"), ("м", "m")):
        word = word.replace(spelled, unit)
    if not _DURATION.match(word):
        return None
    return parse_duration(word)


def _read_date(words: list[str], today: date) -> date:
    if len(words) == 1:
        numeric = _numeric_date(words[0], today)
        if numeric is not None:
            return numeric
    phrase = " ".join(words)
    if not _LETTER.search(phrase):
        raise ScheduleError(ScheduleProblem.bad_date, phrase)
    # Imported for the first worded date (about 50 ms, beside the 0.4 s its first parse takes
    # to load its languages): a bot whose meetings have numeric dates never carries it.
    import dateparser  # noqa: PLC0415

    base = datetime.combine(today, time(0, 0))
    try:
        found = dateparser.parse(
            phrase,
            languages=["ru", "en", "pl"],
            settings={**_DATEPARSER_SETTINGS, "RELATIVE_BASE": base},
        )
    except (ValueError, OverflowError, TypeError, KeyError):
        found = None
    if found is None:
        raise ScheduleError(ScheduleProblem.no_date, phrase)
    day = found.date()
    if not _FOUR_DIGITS.search(phrase) and day - today > timedelta(days=300):
        # "27 февраля" read as next year because today is that day or a few days after it.
        return _without_year(day.month, day.day, today, phrase)
    return day


def _numeric_date(token: str, today: date) -> date | None:
    """``27.02``, ``27.02.2027``, ``27.02.27``, ``2027-02-27``; None for other shapes."""
    match = _ISO.match(token)
    if match:
        year, month, day = (int(part) for part in match.groups())
        return _valid_date(year, month, day, token)
    match = _DOTTED.match(token)
    if match is None:
        return None
    day_text, month_text, year_text = match.groups()
    day, month = int(day_text), int(month_text)
    if year_text is None:
        return _without_year(month, day, today, token)
    year = int(year_text)
    if year < 100:
        year += 2000
    return _valid_date(year, month, day, token)


def _without_year(month: int, day: int, today: date, token: str) -> date:
    """This year's date, unless it passed more than a month ago: then next year's."""
    candidates = [
        found
        for year in (today.year, today.year + 1)
        if (found := _maybe_date(year, month, day)) is not None
    ]
    if not candidates:
        raise ScheduleError(ScheduleProblem.bad_date, token)
    first = candidates[0]
    if first >= today - RECENT_PAST or len(candidates) == 1:
        return first
    return candidates[1]


def _maybe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _valid_date(year: int, month: int, day: int, token: str) -> date:
    found = _maybe_date(year, month, day)
    if found is None:
        raise ScheduleError(ScheduleProblem.bad_date, token)
    return found


def clean_title(text: str) -> str:
    """A title typed on its own (the dialogue's title step), checked like one in ``/schedule``."""
    title = " ".join(text.split())
    if not title:
        raise ScheduleError(ScheduleProblem.no_title)
    if len(title) > MAX_TITLE:
        raise ScheduleError(ScheduleProblem.title_too_long, title)
    return title
