"""The bot as a real process and its topic model: when the model is in use, what the process
and the ones it started take (Linux, from /proc).

``bench/memory.py`` and ``tests/test_topic_process.py`` are built from these, on
``tests/burst.py``'s seeded programme and ``BotProcess``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

from bot.sandbox.emulator.client import TelegramClient
from bot.sandbox.emulator.models import FakeChat, FakeMessage, FakeUser
from bot.sandbox.emulator.server import FakeTelegram
from tests.burst import post_request

# Requests the default topics' keywords do not place and the shipped examples' model does
# (psychology): the bot asks their author until its model is in use.
MODEL_ONLY = (
    "Две участницы поссорились и перестали разговаривать друг с другом, как их помирить?",
    "Пенсионерки в клубе обижаются друг на друга, одна перестала ходить. Как помирить?",
)
PLACED = "Тема:"  # in the acknowledgement of a request whose topic the bot suggests
ASKING_EVERY = 3.0


def descendants(pid: int) -> list[int]:
    """Every process the process started, and those they started, and so on."""
    found = []
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            for child in children.read_text().split():
                found += [int(child), *descendants(int(child))]
    return found


def pss_kib(pid: int) -> int:
    """The process's proportional set size: its pages, each shared one split among those
    sharing it (0 once it is gone)."""
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return 0
    return next(int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:"))


def tree_pss_kib(pid: int) -> int:
    """The memory the process and all it started take together."""
    return sum(pss_kib(p) for p in [pid, *descendants(pid)])


async def acknowledgement(
    server: FakeTelegram, request: FakeMessage, timeout: float = 30.0
) -> FakeMessage:
    """The bot's answer to the request in its chat."""
    deadline = time.monotonic() + timeout
    while True:
        for message in server.history[request.chat.id]:
            if message.by_bot and message.reply_to is request:
                return message
        if time.monotonic() > deadline:
            raise AssertionError(f"no acknowledgement within {timeout} s")
        await asyncio.sleep(0.02)


async def until_the_model_places(
    server: FakeTelegram, author: FakeUser, group: FakeChat, timeout: float = 120.0
) -> FakeMessage:
    """Send requests only the model places until one is placed (the first one has the model
    trained): the acknowledgement of that one. One every few seconds: the bot answers in a
    group at most 20 times a minute."""
    deadline = time.monotonic() + timeout
    sent = 0
    while True:
        text = MODEL_ONLY[sent % len(MODEL_ONLY)]
        ack = await acknowledgement(server, post_request(server, author, group, text))
        sent += 1
        if PLACED in ack.content:
            return ack
        if time.monotonic() > deadline:
            raise AssertionError(f"the topic model placed no request within {timeout} s")
        await asyncio.sleep(ASKING_EVERY)


async def confirm_topic(server: FakeTelegram, author: FakeUser, ack: FakeMessage) -> None:
    """The author confirms the suggested topic (a labelled example): once the bot has
    answered the press, the label is stored."""
    client = TelegramClient(server)
    suggested = next(text for text in ack.buttons if text.startswith("✅"))
    update = client.callback_update(author, ack, ack.callback_data(suggested))
    record = server.callbacks[update["callback_query"]["id"]]
    await server.wait_processed(server.enqueue(update))
    deadline = time.monotonic() + 30
    while record.answer is None:
        if time.monotonic() > deadline:
            raise AssertionError("the press was not answered within 30 s")
        await asyncio.sleep(0.02)
