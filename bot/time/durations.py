"""Parsing of short human durations such as ``90m``, ``1h30m``, ``24h`` or ``3y``."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+)\s*(y|d|h|m|s)", re.IGNORECASE)
_WHOLE = re.compile(r"^(?:\s*\d+\s*[ydhms]\s*)+$", re.IGNORECASE)
# A year is 365 days: what a retention period such as ``3y`` means.
_UNIT_SECONDS = {"y": 365 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
# More than a timedelta holds is no duration anyone means (and would overflow, not refuse).
_LONGEST = timedelta.max.days * 86400


def parse_duration(text: str) -> timedelta:
    """Parse ``1h30m``-style text; a bare number means minutes.

    Raises ``ValueError`` for anything else, so callers can answer with the accepted forms.
    """
    cleaned = text.strip().lower()
    if cleaned.isdigit():
        seconds = int(cleaned) * 60
    elif cleaned and _WHOLE.match(cleaned):
        seconds = sum(int(n) * _UNIT_SECONDS[unit.lower()] for n, unit in _PART.findall(cleaned))
    else:
        raise ValueError(f"not a duration: {text!r}")
    if seconds > _LONGEST:
        raise ValueError(f"too long a duration: {text!r}")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """Render a duration back in the same compact form (``1h30m``)."""
    seconds = int(value.total_seconds())
    parts: list[str] = []
    for unit, size in _UNIT_SECONDS.items():
        amount, seconds = divmod(seconds, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts) or "0s"
