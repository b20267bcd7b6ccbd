"""The topic model's processes: the bot's runs the model without scikit-learn or SciPy, and the
one that trains it imports neither SQLAlchemy, the models nor aiogram, and is gone after.

What a process imported is read from ``python -X importtime``: every module it loaded, in
any thread, on its stderr. The test process itself cannot tell (other tests import
scikit-learn here, to compare with it), so the bot runs as a real process (``python -m bot``).
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from bot.domain.topic_learning import TRAINING, TrainingFailed, train_in_a_process
from bot.domain.topic_model import TopicModel
from bot.domain.topic_text import Example, TrainingSet, shipped_examples, terms_of
from bot.domain.topics import default_topics
from bot.sandbox.emulator.server import FakeTelegram
from tests.burst import BotProcess, bot_env, eventually, post_request, seed
from tests.topic_process import (
    MODEL_ONLY,
    acknowledgement,
    confirm_topic,
    descendants,
    until_the_model_places,
)

# What the training process may load of the bot: the text and word-vector modules it shares
# with the bot's model (the training module itself runs as __main__).
SHARED = {
    "bot",
    "bot.domain",
    "bot.domain.topic_text",
    "bot.domain.topic_model",
    "bot.domain.word_vectors",
}


def imported(importtime: str) -> set[str]:
    """The modules a process loaded, from what ``-X importtime`` wrote."""
    return {
        line.rsplit("|", 1)[-1].strip()
        for line in importtime.splitlines()
        if line.startswith("import time:")
    }


def packages(modules: set[str]) -> set[str]:
    return {module.split(".")[0] for module in modules}


@pytest.mark.no_database
async def test_the_training_process_loads_neither_the_database_nor_aiogram() -> None:
    two = [topic for topic in default_topics() if topic.code in {"legal", "psychology"}]
    training = TrainingSet(
        terms_of(two),
        (
            Example("legal", "Как зарегистрировать АНО?"),
            Example("psychology", "Бессонница после обстрела"),
        ),
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-X", "importtime", "-m", TRAINING,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    model, errors = await process.communicate(training.to_json())
    assert process.returncode == 0, errors.decode()[-2000:]
    modules = imported(errors.decode())
    assert {"sklearn", "numpy"} <= packages(modules)
    assert not packages(modules) & {"sqlalchemy", "aiogram", "models", "alembic", "pydantic"}
    assert {module for module in modules if module.split(".")[0] == "bot"} <= SHARED
    found = TopicModel.from_bytes(model).likeliest("Как зарегистрировать АНО")
    assert found is not None and found[0] == "legal"


@pytest.mark.no_database
async def test_a_failed_training_says_what_failed_and_nothing_of_the_requests() -> None:
    lonely = TrainingSet(
        terms_of([topic for topic in default_topics() if topic.code == "legal"]),
        (Example("legal", "Как зарегистрировать АНО?"),),
    )
    with pytest.raises(TrainingFailed, match=r"^the training process ended with 1: ValueError$"):
        await train_in_a_process(lonely)


@pytest.mark.no_database
async def test_a_training_cancelled_on_its_way_kills_its_process() -> None:
    """A bot that stops while a model trains (``Suggesters.close``) cancels the training: its
    process is killed and the task ends at once, holding nothing of the event loop."""
    training = TrainingSet(terms_of(default_topics()), tuple(shipped_examples()))
    task = asyncio.create_task(train_in_a_process(training))
    for _ in range(300):  # until its process runs
        if descendants(os.getpid()):
            break
        await asyncio.sleep(0.01)
    assert descendants(os.getpid())
    task.cancel()
    await asyncio.wait([task], timeout=10)
    assert task.cancelled()
    for _ in range(100):  # the kernel's bookkeeping of the killed child
        if not descendants(os.getpid()):
            break
        await asyncio.sleep(0.01)
    assert descendants(os.getpid()) == []


async def test_the_bot_runs_its_model_without_scikit_learn_and_keeps_no_process(
    server: FakeTelegram, database_url: str, tmp_path: Path
) -> None:
    cast = await seed(database_url, server, groups=1, mentors=1, topics=("legal", "psychology"))
    author, group = cast.activists[0], cast.groups[0]
    bot = BotProcess(bot_env(database_url, server), tmp_path)
    bot.command = ["-X", "importtime", "-m", "bot"]
    await bot.start(server)
    try:
        assert bot.process is not None
        pid = bot.process.pid
        ack = await until_the_model_places(server, author, group)
        assert descendants(pid) == []  # the first model's training process has ended

        # The author's confirmation is a label: the next request has a model trained with it.
        await confirm_topic(server, author, ack)
        await acknowledgement(server, post_request(server, author, group, MODEL_ONLY[1]))
        await eventually(lambda: bool(descendants(pid)), 30, "a training process started")
        await eventually(lambda: not descendants(pid), 120, "the training process ended")

        modules = imported(bot.log.read_text())
        assert {"bot.domain.topic_model", "numpy"} <= modules
        assert not packages(modules) & {"sklearn", "scipy", "navec", "natasha"}
    finally:
        await bot.stop()
