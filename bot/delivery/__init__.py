"""Delivery: the inbox of updates, the outbox of messages, and the one scheduler that sends.

The data flows one way: Telegram -> inbox (stored before it is confirmed) -> handler (one
short transaction: the domain change and the outbox rows that announce it) -> scheduler
(Telegram's limits, retries, failure records) -> Telegram -> the message ids, noted back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["Document", "MessageRef", "Outbox"]

if TYPE_CHECKING:
    from bot.delivery.outbox import Document, MessageRef, Outbox
else:

    def __getattr__(name: str) -> Any:
        # Loaded when asked for: the bot starts its sender process before it loads aiogram.
        if name in __all__:
            from bot.delivery import outbox  # noqa: PLC0415

            return getattr(outbox, name)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
