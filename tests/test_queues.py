"""The sender's queues: of the chats ready at once, those whose next message can wait (a town
question, the digest) come after the others, and still come when nothing else is ready. Its
windows keep Telegram's limits by the monotonic clock."""

from __future__ import annotations

import time

import pytest

from bot.delivery.outbox import Row
from bot.delivery.queues import Queues
from bot.delivery.windows import RateLimits, Windows


def _row(outbox_id: int, chat_id: int, purpose: str, *, not_before: float = 0.0) -> Row:
    return Row(
        id=outbox_id, chat_id=chat_id, method="send_text", params={"text": purpose},
        has_file=False, refers_to_id=None, withdraw_unsent=False, purpose=purpose,
        person_id=None, record=None, attempts=0, not_before=not_before,
    )  # fmt: skip


def test_messages_that_can_wait_go_after_the_ones_due() -> None:
    queues = Queues()
    # Written first: the town question of one group, then two acknowledgements and a card.
    queues.hold(_row(1, -100, "profile"))
    queues.hold(_row(2, -200, "ticket_ack"))
    queues.hold(_row(3, 300, "ticket_card"))
    queues.hold(_row(4, -400, "ticket_ack"))
    order = [line.chat_id for line in queues.ready(time.time() + 1)]
    assert order == [-200, 300, -400, -100]


def test_a_message_that_can_wait_goes_when_nothing_else_is_ready() -> None:
    queues = Queues()
    later = time.time() + 60
    queues.hold(_row(1, -100, "weekly_digest"))
    queues.hold(_row(2, -200, "ticket_ack", not_before=later))  # a retry, a minute ahead
    assert [line.chat_id for line in queues.ready(time.time() + 1)] == [-100]
    assert queues.next_at() == later


def test_a_chat_keeps_its_order_whatever_can_wait() -> None:
    queues = Queues()
    # In one chat the town question was written before the acknowledgement: it goes first,
    # since a chat's messages never overtake each other.
    queues.hold(_row(1, -100, "profile"))
    queues.hold(_row(2, -100, "ticket_ack"))
    (line,) = list(queues.ready(time.time() + 1))
    assert [row.purpose for row in line.rows] == ["profile", "ticket_ack"]


def test_a_stopped_round_leaves_the_waiting_chats_for_the_next() -> None:
    queues = Queues()
    queues.hold(_row(1, -100, "profile"))
    queues.hold(_row(2, -200, "ticket_ack"))
    now = time.time() + 1
    first = next(iter(queues.ready(now)))  # the sender takes one, then the window is full
    assert first.chat_id == -200
    queues.put_back(first)
    assert [line.chat_id for line in queues.ready(now)] == [-200, -100]


def test_a_wall_clock_running_fast_does_not_bring_a_message_early(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While the system slews its wall clock half a percent fast, a private chat's next message
    still waits a whole second, as Telegram counts it; what an earlier sender sent (its moments
    in wall-clock seconds) counts the same."""
    clock = {"monotonic": 1000.0}
    monkeypatch.setattr(time, "monotonic", lambda: clock["monotonic"])
    monkeypatch.setattr(time, "time", lambda: 7000.0 + clock["monotonic"] * 1.005)
    windows = Windows(RateLimits(private_per_second=1.0))
    windows.start()
    windows.spent(42)
    clock["monotonic"] += 0.997  # the wall clock says 1.002 s
    assert windows.chat_delay(42) == pytest.approx(0.003)
    clock["monotonic"] += 0.003
    assert windows.chat_delay(42) == 0.0

    windows.seed([(43, time.time() - 0.4)])
    assert windows.chat_delay(43) == pytest.approx(0.6)
