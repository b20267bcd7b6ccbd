"""Telegram's send limits as moving windows: per private chat, per group, and for the whole bot.

Telegram counts a message when it arrives, in any window of the length it names ("20 in any
minute" for a group), so each limit is a moving window (``limits``), not a leaky bucket, which
would let a burst and its refill into one minute. A message is counted when Telegram answers,
which is never earlier than Telegram saw it; messages still on their way count against the
bot-wide window as well, so the windows hold exactly without a safety margin.

The windows live in a ``limits`` storage: in memory for the one process that sends, and the
same code takes a shared storage (Redis) where several processes would send.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter


@dataclass(frozen=True)
class RateLimits:
    global_per_second: float = 30.0
    private_per_second: float = 1.0
    group_per_minute: float = 20.0


def _per_second(rate: float) -> RateLimitItem:
    if rate >= 1:
        return RateLimitItemPerSecond(int(rate))
    return RateLimitItemPerSecond(1, math.ceil(1 / rate))


def _per_minute(rate: float) -> RateLimitItem:
    if rate >= 1:
        return RateLimitItemPerMinute(int(rate))
    return RateLimitItemPerMinute(1, math.ceil(1 / rate))


class Budget:
    """How soon the next message may go to a chat, and what was spent."""

    def __init__(self, limits: RateLimits, storage: Storage | None = None) -> None:
        self.limits = limits
        self._limiter = MovingWindowRateLimiter(storage or MemoryStorage())
        self._bot = _per_second(limits.global_per_second)
        self._private = _per_second(limits.private_per_second)
        self._group = _per_minute(limits.group_per_minute)
        self.in_flight = 0

    def _chat_item(self, chat_id: int) -> RateLimitItem:
        return self._private if chat_id > 0 else self._group

    async def delay(self, chat_id: int) -> float:
        """Seconds until a message to the chat may start; 0 means now."""
        now = time.time()
        waits = [0.0]
        chat = await self._limiter.get_window_stats(self._chat_item(chat_id), str(chat_id))
        if chat.remaining <= 0:
            waits.append(chat.reset_time - now)
        overall = await self._limiter.get_window_stats(self._bot, "bot")
        if overall.remaining <= 0:
            waits.append(overall.reset_time - now)
        elif overall.remaining <= self.in_flight:
            # The window is full once the messages on their way land: wait for an answer.
            waits.append(0.005)
        return max(waits)

    def start(self) -> None:
        """A message is on its way."""
        self.in_flight += 1

    async def spent(self, chat_id: int) -> None:
        """Telegram answered (whatever it said): the message counts from now on."""
        self.in_flight = max(0, self.in_flight - 1)
        await self._limiter.hit(self._chat_item(chat_id), str(chat_id))
        await self._limiter.hit(self._bot, "bot")

    async def crowded(self, chat_id: int) -> bool:
        """Whether the chat has used half its window or more (a 429 then is the chat's own)."""
        item = self._chat_item(chat_id)
        stats = await self._limiter.get_window_stats(item, str(chat_id))
        return stats.remaining <= item.amount // 2

    async def seed(self, sent: dict[int, int]) -> None:
        """Count messages an earlier process sent within the windows (conservatively, as now)."""
        for chat_id, count in sent.items():
            item = self._chat_item(chat_id)
            await self._limiter.hit(item, str(chat_id), cost=min(count, item.amount))
