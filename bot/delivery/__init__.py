"""Delivery: the inbox of updates, the outbox of messages, and the sender that sends them.

The data flows one way: Telegram -> inbox (stored before it is confirmed) -> handler (one
short transaction: the domain change and the outbox rows that announce it) -> sender
(Telegram's limits, retries, outcomes recorded) -> Telegram -> the message ids, noted back.
"""

from bot.delivery.outbox import Document, MessageRef, Outbox, Outgoing

__all__ = ["Document", "MessageRef", "Outbox", "Outgoing"]
