"""Delivery: the inbox of updates, the outbox of messages, and the one scheduler that sends.

The data flows one way: Telegram -> inbox (stored before it is confirmed) -> handler (one
short transaction: the domain change and the outbox rows that announce it) -> scheduler
(Telegram's limits, retries, failure records) -> Telegram -> the message ids, noted back.
"""

from bot.delivery.outbox import Document, MessageRef, Outbox, Outgoing

__all__ = ["Document", "MessageRef", "Outbox", "Outgoing"]
