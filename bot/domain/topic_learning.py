"""What a programme's topic suggester learns from, and the model each programme uses now.

Every confirmation or correction of a request's topic is kept as a labelled example of its
programme (``record_label``, in the caller's transaction). ``Suggesters`` holds one model per
programme and, when the programme's examples have changed, has a new one trained while the
previous one (or the model of the shipped examples) goes on serving: a request never waits for
training, and the event loop never runs it. A training is a process started for it and gone
after it (``python -m bot.domain.topic_training``), one at a time: not a thread, as seconds of
training would hold the interpreter's lock and leave scikit-learn and its memory in the bot's
process, which only runs the trained model (``bot.domain.topic_model``, numpy alone). Each
process notices changes made by the others from the examples' count and latest label, so
replicas learn alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.domain.topic_suggest import hashtag_topic, suggest_topic
from bot.domain.topic_text import (
    OWN_EXAMPLE_WEIGHT,
    Example,
    TopicTerms,
    TrainingSet,
    shipped_examples,
    terms_of,
)
from models import Ticket, Topic, TopicExample

if TYPE_CHECKING:
    from bot.domain.topic_model import TopicModel

log = logging.getLogger(__name__)

# What a programme's examples looked like when its model was trained: count, latest label.
Version = tuple[int, datetime | None]


async def record_label(
    session: AsyncSession, ticket: Ticket, topic: Topic, source: str, now: datetime
) -> None:
    """The request's topic as a person confirmed or chose it: one example per request, with
    its latest label (``source``: confirmed, corrected, chosen, or escalated by a general
    consultant)."""
    example = await session.scalar(select(TopicExample).where(TopicExample.ticket_id == ticket.id))
    if example is None:
        session.add(
            TopicExample(
                programme_id=ticket.programme_id,
                ticket_id=ticket.id,
                topic_id=topic.id,
                text=ticket.text,
                source=source,
                labelled_at=now,
            )
        )
        return
    example.topic_id = topic.id
    example.text = ticket.text
    example.source = source
    example.labelled_at = now


async def examples_of(session: AsyncSession, programme_id: int) -> list[Example]:
    rows = await session.execute(
        select(Topic.code, TopicExample.text)
        .join(Topic, Topic.id == TopicExample.topic_id)
        .where(TopicExample.programme_id == programme_id)
        .order_by(TopicExample.id)
    )
    return [Example(code, text, OWN_EXAMPLE_WEIGHT) for code, text in rows]


async def _version(session: AsyncSession, programme_id: int) -> Version:
    count, latest = (
        await session.execute(
            select(func.count(), func.max(TopicExample.labelled_at)).where(
                TopicExample.programme_id == programme_id
            )
        )
    ).one()
    return int(count), latest


_base_models: OrderedDict[tuple[TopicTerms, ...], TopicModel] = OrderedDict()
BASE_MODELS_KEPT = 8


def trained_base_model(terms: tuple[TopicTerms, ...]) -> TopicModel | None:
    """The shipped examples' model for these topics, if this process has trained it."""
    return _base_models.get(terms)


def _keep_base_model(terms: tuple[TopicTerms, ...], model: TopicModel) -> TopicModel:
    kept = _base_models.setdefault(terms, model)
    while len(_base_models) > BASE_MODELS_KEPT:
        _base_models.popitem(last=False)
    return kept


TRAINING = "bot.domain.topic_training"
# The training process's environment, besides the bot's, read by the libraries as they load:
# BLAS and OpenMP with one thread (the bot keeps the other core: on two busy cores their two
# threads made a training twice to ten times slower), and glibc handing every block of 128 KiB
# or more back to the system when it is freed (by default it raises that threshold as blocks
# are freed, and then keeps the solver's and the features' temporaries: 10 MiB of its peak).
TRAINING_ENVIRONMENT = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "MALLOC_MMAP_THRESHOLD_": "131072",
}


# How long a killed training process may take to be gone.
KILLED_WAIT = 5.0


class TrainingFailed(RuntimeError):
    """The training process ended without a model."""


async def train_in_a_process(training: TrainingSet) -> TopicModel:
    """A model trained by ``python -m bot.domain.topic_training``, which has ended by the time
    this returns (or is cancelled: then it is killed)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", TRAINING,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **TRAINING_ENVIRONMENT},
    )  # fmt: skip
    try:
        model, errors = await process.communicate(training.to_json())
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            # Killed, it ends at once; the wait is bounded all the same, so that a bot that
            # stops is never held by it.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), KILLED_WAIT)
    if process.returncode:
        # The error's kind only: its message or traceback may quote a request.
        kind = errors.decode(errors="replace").strip().rsplit("\n", 1)[-1].split(":", 1)[0]
        raise TrainingFailed(
            f"the training process ended with {process.returncode}: {kind or 'no error written'}"
        )
    return await asyncio.to_thread(_loaded, model)


def _loaded(data: bytes) -> TopicModel:
    """The model's arrays, and the word vectors it reads (a tenth of a second the first time,
    in a worker thread): not by the first suggestion, on the loop."""
    # numpy and the vectors are loaded with the first model: a bot that never needs one (all
    # its requests have hashtags) does not carry them.
    from bot.domain.topic_model import TopicModel  # noqa: PLC0415
    from bot.domain.word_vectors import word_vectors  # noqa: PLC0415

    word_vectors()
    return TopicModel.from_bytes(data)


class Suggesters:
    """The topic model of each programme; see the module's description."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self.session_factory = session_factory
        self._models: dict[tuple[int, tuple[TopicTerms, ...]], tuple[Version, TopicModel]] = {}
        self._training: dict[tuple[int, tuple[TopicTerms, ...]], asyncio.Task[None]] = {}
        # The newest examples a request has seen, per model: a training still on its way when
        # they came is followed by another.
        self._wanted: dict[tuple[int, tuple[TopicTerms, ...]], Version] = {}
        # One training process at a time: two would take the memory of two.
        self._one_training = asyncio.Lock()

    async def warm_up(self, topics: Sequence[Topic]) -> None:
        """Train the shipped examples' model now rather than for the first request."""
        await self._base_model(terms_of(topics))

    async def choose(
        self, session: AsyncSession, programme_id: int, topics: Sequence[Topic], text: str
    ) -> tuple[Topic | None, bool]:
        """The request's topic and whether its author named it (by hashtag); else the
        model's when it is likely; else None (ask the author)."""
        named = hashtag_topic(topics, text)
        if named is not None:
            return named, True
        model = await self.model_for(session, programme_id, topics)
        return suggest_topic(topics, text, model).topic, False

    async def ranked(
        self, session: AsyncSession, programme_id: int, topics: Sequence[Topic], text: str
    ) -> list[Topic]:
        """The topics, likeliest first for this request (their own order without a model)."""
        model = await self.model_for(session, programme_id, topics)
        return list(topics) if model is None else model.ranked(topics, text)

    async def model_for(
        self, session: AsyncSession, programme_id: int, topics: Sequence[Topic]
    ) -> TopicModel | None:
        """The programme's latest model, or while a newer one trains, the one before it; None
        until its first is trained (a few seconds after the first request that needs one in
        this process): meanwhile the keywords suggest, or the author is asked."""
        terms = terms_of(topics)
        key = (programme_id, terms)
        version = await _version(session, programme_id)
        current = self._models.get(key)
        if current is not None and current[0] == version:
            return current[1]
        self._wanted[key] = version
        if key not in self._training:
            self._training[key] = asyncio.create_task(self._train(key))
        if current is not None:
            return current[1]
        return trained_base_model(terms)

    async def settled(self) -> None:
        """Wait until no model is being trained (for tests, and before stopping)."""
        while self._training:
            await asyncio.gather(*self._training.values(), return_exceptions=True)

    async def close(self) -> None:
        """Stop the trainings on their way (their processes are killed): the bot stops."""
        training = list(self._training.values())
        for task in training:
            task.cancel()
        if training:
            await asyncio.wait(training, timeout=KILLED_WAIT * 2)

    async def _train(self, key: tuple[int, tuple[TopicTerms, ...]]) -> None:
        programme_id, terms = key
        version: Version | None = None
        try:
            while version is None or _newer(self._wanted.get(key), version):
                async with self.session_factory() as session:
                    version = await _version(session, programme_id)
                    own = await examples_of(session, programme_id)
                if own:
                    async with self._one_training:
                        model = await train_in_a_process(
                            TrainingSet(terms, (*shipped_examples(), *own))
                        )
                else:
                    model = await self._base_model(terms)
                self._models[key] = (version, model)
        except Exception:
            log.exception("training the topic model of programme %s failed", programme_id)
            previous = self._models.get(key)
            if previous is not None and version is not None:
                self._models[key] = (version, previous[1])  # not tried again until they change
        finally:
            self._training.pop(key, None)

    async def _base_model(self, terms: tuple[TopicTerms, ...]) -> TopicModel:
        """The model of the shipped examples and the topics' words: trained once per process;
        a caller that comes while it trains waits for it rather than training it again."""
        found = trained_base_model(terms)
        if found is not None:
            return found
        async with self._one_training:
            return trained_base_model(terms) or _keep_base_model(
                terms, await train_in_a_process(TrainingSet(terms, shipped_examples()))
            )


def _newer(seen: Version | None, trained: Version) -> bool:
    """Whether a request saw a label later than the ones a model was trained on."""
    if seen is None or seen[1] is None:
        return False
    return trained[1] is None or seen[1] > trained[1]
