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

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiogram.exceptions import (
    ClientDecodeError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)

from bot.delivery.outbox import Row
from bot.delivery.recording import Outcome
from models import OutboxStatus

log = logging.getLogger(__name__)

# Errors that say nothing about the message itself: Telegram, or the way to it, is not well
# (an answer that is not Telegram's JSON comes from a proxy on the way: a 502 page, say).
TRANSIENT = (TelegramServerError, TelegramNetworkError, ClientDecodeError, TimeoutError)

# Failures in a row, with no answer from Telegram between them, that make it unreachable.
UNREACHABLE_AFTER = 3
# While Telegram is unreachable, a message probes it at least this often: once it answers,
# everything that waited goes within seconds.
PROBE_EVERY = 5.0
# 429s in two chats this close together are taken for the bot-wide limit.
FLOOD_EVIDENCE_SECONDS = 2.0
# How long every chat waits when Telegram refuses the bot's token (a token being changed).
UNAUTHORIZED_PAUSE = 60.0


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


class Waits:
    """When a message that did not go goes again: after its own pause, after its chat's 429,
    and no sooner than every chat may (``everyone_until``: while Telegram does not answer, after
    429s in several chats, while it refuses the token)."""

    def __init__(self, policy: RetryPolicy, reach: Reachability) -> None:
        self.policy = policy
        self.reach = reach
        self.everyone_until = 0.0
        self._floods: list[tuple[int, float]] = []  # recent 429s: (chat, when)

    def again(self, row: Row, error: str, *, telegram: bool) -> Outcome:
        """Not sent, for no fault of the message: it goes again after a pause. While Telegram
        does not answer at all, every chat waits, and only a probe goes now and then."""
        attempts = row.attempts + 1
        now = time.time()
        if telegram:
            was_reachable = self.reach.reachable
            self.reach.failed()
            if not self.reach.reachable:
                if was_reachable:
                    log.warning("Telegram does not answer (%s); messages wait", error)
                pause = min(PROBE_EVERY, self.policy.delay(self.reach.failures))
                self.everyone_until = max(self.everyone_until, now + pause)
        log.info("outbox %s: %s; attempt %s failed", row.id, error, attempts)
        return Outcome(row, OutboxStatus.pending, retry_at=now + self.policy.delay(attempts),
                       attempts=attempts, error=error[:500])  # fmt: skip

    def flood(self, row: Row, error: TelegramRetryAfter) -> Outcome:
        """A 429: the chat waits what Telegram asked (``retry_at``). Telegram does not say whose
        limit it was: 429s in two chats within a moment mean the bot's own, and every chat
        waits."""
        now = time.time()
        until = now + error.retry_after + 0.05
        recent = [chat for chat, at in self._floods if now - at < FLOOD_EVIDENCE_SECONDS]
        self._floods = [(chat, at) for chat, at in self._floods if now - at < 60]
        self._floods.append((row.chat_id, now))
        if any(chat != row.chat_id for chat in recent):
            log.warning("429s in several chats: every chat waits %s s", error.retry_after)
            self.everyone_until = max(self.everyone_until, until)
        else:
            log.warning("429 for chat %s: it waits %s s", row.chat_id, error.retry_after)
        return Outcome(row, OutboxStatus.pending, retry_at=until, attempts=row.attempts,
                       reached_telegram=True)  # fmt: skip

    def unauthorized(self, row: Row, error: TelegramUnauthorizedError) -> Outcome:
        log.error("Telegram refuses the bot token (%s): sending paused", error.message)
        until = time.time() + UNAUTHORIZED_PAUSE
        self.everyone_until = max(self.everyone_until, until)
        return Outcome(row, OutboxStatus.pending, retry_at=until, attempts=row.attempts,
                       reached_telegram=True)  # fmt: skip
