"""The bot's clock: what "now" is for handlers and the reminder job.

It is the real time, in UTC; a test hands ``build_app`` a clock of its own to stand at a moment
it chooses (the days before a change of summer time, an hour after a consultation).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)
