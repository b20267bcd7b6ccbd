"""The bot's Prometheus metrics, in a registry of its own (one per running bot, so tests that
run several bots in one process do not share figures)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

if TYPE_CHECKING:
    from bot.delivery.retry import Reachability

# From a message written to the outbox to Telegram's answer: a quiet chat's message takes a
# few tens of milliseconds, a group over its 20-a-minute window waits minutes.
DELIVERY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 180.0, 600.0, 1800.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.updates_handled = Counter(
            "mentordesk_updates_handled",
            "Updates handled by this process (each update once, across all processes).",
            registry=self.registry,
        )
        self.inbox_backlog = Gauge(
            "mentordesk_inbox_backlog",
            "Updates stored and not handled yet, by any process.",
            registry=self.registry,
        )
        self.outbox_backlog = Gauge(
            "mentordesk_outbox_backlog",
            "Messages in the outbox not sent yet (or not yet given up).",
            registry=self.registry,
        )
        self.delivery_seconds = Histogram(
            "mentordesk_delivery_seconds",
            "Seconds from a message written to the outbox to Telegram's answer accepting it.",
            buckets=DELIVERY_BUCKETS,
            registry=self.registry,
        )
        self.flood = Counter(
            "mentordesk_telegram_429",
            "Answers 429 (Too Many Requests) from Telegram to this process's sends.",
            registry=self.registry,
        )
        self.failures = Counter(
            "mentordesk_delivery_failures",
            "Messages given up for good, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.sender = Gauge(
            "mentordesk_sender",
            "1 while this process holds the sender lease and sends the outbox, else 0.",
            registry=self.registry,
        )
        self.set_aside = Gauge(
            "mentordesk_updates_set_aside",
            "Updates kept but never handled because the framework cannot read them.",
            registry=self.registry,
        )
        self.telegram_reachable = Gauge(
            "mentordesk_telegram_reachable",
            "1 while Telegram answers this process's calls, 0 while it does not.",
            registry=self.registry,
        )
        self.telegram_unreachable_since = Gauge(
            "mentordesk_telegram_unreachable_since_seconds",
            "Since when (Unix time) Telegram has not answered; 0 while it answers.",
            registry=self.registry,
        )

    def watch(self, reach: Reachability) -> None:
        """Read Telegram's reachability from ``reach`` whenever the metrics are read."""
        self.telegram_reachable.set_function(lambda: 1.0 if reach.reachable else 0.0)
        self.telegram_unreachable_since.set_function(lambda: reach.unreachable_since or 0.0)

    def delivered(self, seconds: float) -> None:
        self.delivery_seconds.observe(seconds)

    def refused(self, reason: str) -> None:
        self.failures.labels(reason=reason).inc()

    def flooded(self) -> None:
        self.flood.inc()

    def sending(self, leading: bool) -> None:
        self.sender.set(1 if leading else 0)


def failure_reason(error: str | None, *, forbidden: bool) -> str:
    """A short, bounded label for why Telegram refused a message for good."""
    text = (error or "").lower()
    if forbidden:
        return "forbidden"
    if "gave up after" in text:
        return "gave_up"
    if "chat not found" in text:
        return "chat_not_found"
    if "never sent" in text:
        return "its_message_never_sent"
    if "bad request" in text:
        return "bad_request"
    return "other"
