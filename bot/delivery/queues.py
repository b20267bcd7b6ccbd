"""The rows the sender holds: a queue per chat, in the order they were written, and when each
chat may send next.

A chat sends one message at a time, in order; a chat waiting for its window, a 429 or a retry
never holds up another. Of the chats ready at once, those whose next message can wait
(``LATER``: a question about the person's town, the weekly digest) go after the others, so
that in a burst they do not take the bot-wide budget from acknowledgements and cards. A row
that edits or answers a message still waiting somewhere waits for it, and then gets its
Telegram id. Before a message goes, later rows about it are folded in: edits of a message not
sent yet go as its content, an edit that withdraws an unsent message drops both, and an edit
followed by another edit of the same message is skipped.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import time
from collections import OrderedDict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from bot.delivery.outbox import Row
from bot.delivery.recording import Outcome
from models import OutboxStatus

# Messages that count against Telegram's limits (new messages and edits).
COUNTED = frozenset(
    {"send_text", "send_document", "send_photo", "edit_text", "edit_markup", "edit_ephemeral_text",
     "open_topic"}
)  # fmt: skip
SENDS = frozenset({"send_text", "send_document", "send_photo"})
EDITS = frozenset({"edit_text", "edit_markup"})
# What may wait while others are due: it goes once no chat with a more pressing message is ready.
LATER = frozenset({"profile", "weekly_digest"})
# What became of rows lately, for rows that refer to them (their message ids).
FINISHED_KEPT = 10_000


@dataclass
class Line:
    """One chat's queue."""

    chat_id: int
    rows: deque[Row] = field(default_factory=deque)
    busy: bool = False  # a message of it is on its way
    paused_until: float = 0.0  # a 429 for this chat
    ready_at: float | None = None  # when it is in the heap


class Queues:
    """Every row held, by chat, with a heap of when each chat is ready to send next."""

    def __init__(self) -> None:
        self.rows: dict[int, Row] = {}
        self.lines: dict[int, Line] = {}
        self.finished: OrderedDict[int, tuple[OutboxStatus, int | None]] = OrderedDict()
        self._heap: list[tuple[float, int, int]] = []
        self._later: list[tuple[float, int, int]] = []  # the chats whose next message can wait
        self._seq = itertools.count()
        self._dependents: dict[int, list[Row]] = {}  # outbox id -> rows referring to it
        self._waiting: dict[int, set[int]] = {}  # outbox id -> chats waiting for it

    def __len__(self) -> int:
        return len(self.rows)

    def holds(self, outbox_id: int) -> bool:
        return outbox_id in self.rows or outbox_id in self.finished

    def hold(self, row: Row) -> None:
        if self.holds(row.id):
            return
        self.rows[row.id] = row
        line = self.lines.get(row.chat_id)
        if line is None:
            line = self.lines[row.chat_id] = Line(row.chat_id)
        if line.rows and line.rows[-1].id > row.id:
            # A transaction that committed after a later one: keep the chat's order by id.
            position = next(i for i, held in enumerate(line.rows) if held.id > row.id)
            line.rows.insert(position, row)
        else:
            line.rows.append(row)
        if row.refers_to_id is not None:
            self._dependents.setdefault(row.refers_to_id, []).append(row)
        self.schedule(line, max(row.not_before, time.time()))

    def clear(self) -> None:
        """Forget every row held (another process sends them now)."""
        self.rows.clear()
        self.lines.clear()
        self._heap.clear()
        self._later.clear()
        self._dependents.clear()
        self._waiting.clear()

    # --- when each chat goes -----------------------------------------------------------------

    def schedule(self, line: Line, at: float) -> None:
        if line.busy or not line.rows:
            return
        if line.ready_at is not None and line.ready_at <= at:
            return
        line.ready_at = at
        heap = self._later if line.rows[0].purpose in LATER else self._heap
        heapq.heappush(heap, (at, next(self._seq), line.chat_id))

    def next_at(self) -> float | None:
        """When the earliest chat is ready (None: nothing is waiting)."""
        return min((heap[0][0] for heap in (self._heap, self._later) if heap), default=None)

    def ready(self, now: float) -> Iterator[Line]:
        """The chats ready at ``now``, earliest first and those whose message can wait last,
        each taken off its heap as it is given (the caller sends its head, or schedules it
        again)."""
        for heap in (self._heap, self._later):
            while heap and heap[0][0] <= now:
                at, _, chat_id = heapq.heappop(heap)
                line = self.lines.get(chat_id)
                if line is None or line.ready_at != at:
                    continue  # superseded by a later entry
                line.ready_at = None
                if line.busy or not line.rows:
                    continue
                yield line

    def put_back(self, line: Line) -> None:
        """A chat that was given by ``ready`` but not served goes first next time."""
        if line.rows and not line.busy:
            self.schedule(line, time.time())

    def wait_for(self, outbox_id: int, line: Line) -> bool:
        """Whether the chat's head refers to a message still held here: then it waits for it."""
        if outbox_id not in self.rows:
            return False
        self._waiting.setdefault(outbox_id, set()).add(line.chat_id)
        return True

    def retry_all_now(self) -> None:
        """Telegram answers again: every row waiting for a retry goes as soon as its chat may."""
        now = time.time()
        for line in self.lines.values():
            if line.rows and line.rows[0].not_before > now:
                line.rows[0].not_before = now
                self.schedule(line, now)

    # --- after an attempt --------------------------------------------------------------------

    def settle(self, line: Line, outcome: Outcome) -> None:
        """Apply the outcome to the queues and let waiting chats go on."""
        row = outcome.row
        line.busy = False
        if outcome.moved_to is not None:
            self._move(line, outcome.moved_to)
            return
        if outcome.status == OutboxStatus.pending:
            row.not_before = outcome.retry_at or time.time()
            row.attempts = outcome.attempts
            self.schedule(line, row.not_before)
            return
        self.finished[row.id] = (outcome.status, outcome.message_id)
        for done in [row, *outcome.dropped]:
            self._forget(done)
        while len(self.finished) > FINISHED_KEPT:
            self.finished.popitem(last=False)
        self.schedule(line, time.time())

    def _forget(self, row: Row) -> None:
        self.rows.pop(row.id, None)
        self.finished.setdefault(row.id, (OutboxStatus.dropped, None))
        line = self.lines.get(row.chat_id)
        if line is not None:
            with contextlib.suppress(ValueError):
                line.rows.remove(row)
            if not line.rows and not line.busy:
                self.lines.pop(row.chat_id, None)
            else:
                self.schedule(line, time.time())
        if row.refers_to_id is not None:
            siblings = self._dependents.get(row.refers_to_id)
            if siblings is not None and row in siblings:
                siblings.remove(row)
                if not siblings:
                    self._dependents.pop(row.refers_to_id, None)
        for chat_id in self._waiting.pop(row.id, set()):
            waiting = self.lines.get(chat_id)
            if waiting is not None:
                self.schedule(waiting, time.time())

    def _move(self, line: Line, new_chat_id: int) -> None:
        """A group became a supergroup: its queue goes on under the new id."""
        self.lines.pop(line.chat_id, None)
        target = self.lines.setdefault(new_chat_id, Line(new_chat_id))
        for row in line.rows:
            row.chat_id = new_chat_id
        target.rows = deque(sorted([*target.rows, *line.rows], key=lambda r: r.id))
        self.schedule(target, time.time())

    # --- folding later rows into the one about to go -----------------------------------------

    def fold(self, row: Row) -> Outcome | None:
        """Whether the rows behind this one say it goes not at all (else None: it goes)."""
        later = self._dependents.get(row.id, [])
        if row.method in SENDS and any(dependent.withdraw_unsent for dependent in later):
            return Outcome(row, OutboxStatus.dropped, error="withdrawn before it was sent",
                           dropped=list(later))  # fmt: skip
        if row.method in EDITS:
            line = self.lines.get(row.chat_id)
            if line is not None and any(_supersedes(other, row) for other in line.rows):
                return Outcome(row, OutboxStatus.dropped, error="superseded by a later edit")
        return None

    def apply_edits(self, row: Row, params: dict[str, Any]) -> list[Row]:
        """Edits of this message waiting behind it: send it as they would leave it."""
        edits = [r for r in self._dependents.get(row.id, []) if r.method in EDITS]
        for edit in sorted(edits, key=lambda r: r.id):
            if edit.method == "edit_text":
                params["text"] = edit.params["text"]
            # As on Telegram: an edit without buttons takes the buttons away.
            if "reply_markup" in edit.params:
                params["reply_markup"] = edit.params["reply_markup"]
            else:
                params.pop("reply_markup", None)
        return edits


def _same_target(a: Row, b: Row) -> bool:
    if a.refers_to_id is not None or b.refers_to_id is not None:
        return a.refers_to_id == b.refers_to_id
    return a.params.get("message_id") == b.params.get("message_id")


def _supersedes(other: Row, row: Row) -> bool:
    if other.id <= row.id or other.method not in EDITS or not _same_target(other, row):
        return False
    return other.method == "edit_text" or row.method == "edit_markup"
