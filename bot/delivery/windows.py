"""Telegram's send limits as moving windows: per private chat, per group, and for the whole bot.

Telegram counts a message when it arrives, in any window of the length it names ("20 in any
minute" for a group), so each limit is a moving window, not a leaky bucket, which would let a
burst and its refill into one minute. A message is counted when Telegram answers, which is
never earlier than Telegram saw it; messages still on their way count against the bot-wide
window as well, so the windows hold exactly, without a safety margin: by the monotonic clock, as
a wall clock being corrected may run fast enough to bring a message a few milliseconds early.

A window is a deque of the moments messages were answered. (The ``limits`` package has
moving windows, but its in-memory storage expires entries in a thread per key under a lock it
may drop, so a hit can wait behind it, let another send into a full window, or be lost; one
process sends, so plain deques are exact and cost nothing.)
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class RateLimits:
    global_per_second: float = 30.0
    private_per_second: float = 1.0
    group_per_minute: float = 20.0


class MovingWindow:
    """At most ``count`` messages in any ``seconds``-long stretch of time."""

    __slots__ = ("count", "events", "seconds")

    def __init__(self, count: int, seconds: float) -> None:
        self.count = count
        self.seconds = seconds
        self.events: deque[float] = deque()

    @classmethod
    def per(cls, rate: float, period: float) -> MovingWindow:
        """``rate`` messages per ``period`` seconds; below one, one per a longer stretch."""
        if rate >= 1:
            return cls(int(rate), period)
        return cls(1, period * math.ceil(1 / rate))

    def _expire(self, now: float) -> None:
        events = self.events
        while events and now - events[0] >= self.seconds:
            events.popleft()

    def used(self, now: float) -> int:
        self._expire(now)
        return len(self.events)

    def wait(self, now: float, *, on_the_way: int = 0) -> float | None:
        """Seconds until one more message fits (0: now); None while only messages on their way
        fill the window (an answer frees nothing, but tells when to look again)."""
        self._expire(now)
        if len(self.events) + on_the_way < self.count:
            return 0.0
        if len(self.events) < self.count:
            return None
        return max(0.0, self.events[-self.count] + self.seconds - now)

    def add(self, moment: float) -> None:
        self.events.append(moment)


class Windows:
    """How soon the next message may go to a chat, and what was spent: every window at once."""

    def __init__(self, limits: RateLimits) -> None:
        self.limits = limits
        self._bot = MovingWindow.per(limits.global_per_second, 1.0)
        self._chats: dict[int, MovingWindow] = {}
        self.in_flight = 0

    def _window(self, chat_id: int) -> MovingWindow:
        window = self._chats.get(chat_id)
        if window is None:
            if chat_id > 0:
                window = MovingWindow.per(self.limits.private_per_second, 1.0)
            else:
                window = MovingWindow.per(self.limits.group_per_minute, 60.0)
            self._chats[chat_id] = window
        return window

    def bot_delay(self) -> float | None:
        """Seconds until the bot-wide window has room: 0 now, None once an answer comes."""
        return self._bot.wait(time.monotonic(), on_the_way=self.in_flight)

    def chat_delay(self, chat_id: int) -> float:
        """Seconds until the chat's own window has room for one more message; 0 means now.

        A chat sends one message at a time, so nothing of its own is on its way."""
        return self._window(chat_id).wait(time.monotonic()) or 0.0

    def start(self) -> None:
        """A message is on its way."""
        self.in_flight += 1

    def release(self) -> None:
        """A message taken out of the window before it reached Telegram (folded, dropped)."""
        self.in_flight = max(0, self.in_flight - 1)

    def spent(self, chat_id: int) -> None:
        """Telegram answered (whatever it said): the message counts from now on."""
        now = time.monotonic()
        self.in_flight = max(0, self.in_flight - 1)
        self._window(chat_id).add(now)
        self._bot.add(now)

    def seed(self, sent: Iterable[tuple[int, float]]) -> None:
        """Messages an earlier sender got answered (chat, epoch seconds), oldest first."""
        since_epoch = time.monotonic() - time.time()
        for chat_id, moment in sent:
            self._window(chat_id).add(moment + since_epoch)
            self._bot.add(moment + since_epoch)

    def forget_idle(self) -> None:
        """Drop the windows of chats that sent nothing within their window's length."""
        now = time.monotonic()
        for chat_id in [c for c, w in self._chats.items() if not w.used(now)]:
            del self._chats[chat_id]
