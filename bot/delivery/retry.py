"""When Telegram does not take a message: what the sender tries again, and when.

Only Telegram's permanent answers end a message (403, chat not found, any other bad request).
A 429, a 5xx or a network error never does: the message waits and goes again, for as long as
it takes, after a pause that doubles with each attempt up to a cap, with jitter so that chats
do not all come back at once (``RetryPolicy``).

While nothing gets through at all, Telegram counts as unreachable (``Reachability``): then
every chat waits together and only the messages on their way probe, and the first answer from
Telegram lets everything that waited go at once, within the limits.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiogram.exceptions import ClientDecodeError, TelegramNetworkError, TelegramServerError

# Errors that say nothing about the message itself: Telegram, or the way to it, is not well
# (an answer that is not Telegram's JSON comes from a proxy on the way: a 502 page, say).
TRANSIENT = (TelegramServerError, TelegramNetworkError, ClientDecodeError, TimeoutError)

# Failures in a row, with no answer from Telegram between them, that make it unreachable.
UNREACHABLE_AFTER = 3


@dataclass
class RetryPolicy:
    """Pauses before the next attempt: ``base`` doubled per attempt, up to ``cap`` seconds,
    each between half and one and a half times its step."""

    base: float = 0.5
    cap: float = 15.0

    def delay(self, attempts: int) -> float:
        step = min(self.cap, self.base * 2.0 ** max(0, attempts - 1))
        return step * (0.5 + random.random())  # noqa: S311 - jitter, not security


class Reachability:
    """Whether Telegram answers, as the sender and the poller see it, and since when not."""

    def __init__(self) -> None:
        self.failures = 0
        self._first_failure: float | None = None
        self.unreachable_since: float | None = None  # epoch seconds
        # Called when Telegram answers again after it was unreachable (the sender's wake-up).
        self.on_recovery: Callable[[], None] | None = None

    @property
    def reachable(self) -> bool:
        return self.unreachable_since is None

    def failed(self) -> None:
        """A call got no answer from Telegram (5xx from its front, or no connection)."""
        now = time.time()
        if self.failures == 0:
            self._first_failure = now
        self.failures += 1
        if self.failures >= UNREACHABLE_AFTER and self.unreachable_since is None:
            self.unreachable_since = self._first_failure or now

    def answered(self) -> None:
        """Telegram answered a call (whatever it said)."""
        was_unreachable = self.unreachable_since is not None
        self.failures = 0
        self._first_failure = self.unreachable_since = None
        if was_unreachable and self.on_recovery is not None:
            self.on_recovery()
