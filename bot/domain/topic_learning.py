"""What a programme's topic suggester learns from, and the model each programme uses now.

Every confirmation or correction of a request's topic is kept as a labelled example of its
programme (``record_label``, in the caller's transaction). ``Suggesters`` holds one model per
programme and, when the programme's examples have changed, trains a new one in a process of its
own while the previous one (or the model of the shipped examples) goes on serving: a request
never waits for training, and the event loop never runs it. Not a thread: seconds of training
would hold the interpreter's lock, and every update would wait for its turn at each I/O. Each
process notices changes made by the others from the examples' count and latest label, so
replicas learn alike.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import pickle
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from functools import cache

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.domain.topic_suggest import (
    OWN_EXAMPLE_WEIGHT,
    Example,
    TopicModel,
    TopicTerms,
    hashtag_topic,
    load_word_vectors,
    shipped_examples,
    suggest_topic,
    terms_of,
)
from models import Ticket, Topic, TopicExample

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


_base_training = threading.Lock()
_base_models: OrderedDict[tuple[TopicTerms, ...], TopicModel] = OrderedDict()
BASE_MODELS_KEPT = 8


def base_model(terms: tuple[TopicTerms, ...]) -> TopicModel:
    """The model of the shipped examples and the topics' words: trained once per process;
    a caller that comes while it trains waits for it rather than training it again."""
    with _base_training:
        model = _base_models.get(terms)
        if model is None:
            model = _base_models[terms] = TopicModel.train(terms, shipped_examples())
            while len(_base_models) > BASE_MODELS_KEPT:
                _base_models.popitem(last=False)
        return model


def trained_base_model(terms: tuple[TopicTerms, ...]) -> TopicModel | None:
    """The shipped examples' model for these topics, if this process has trained it."""
    return _base_models.get(terms)


def _keep_base_model(terms: tuple[TopicTerms, ...], model: TopicModel) -> TopicModel:
    with _base_training:
        kept = _base_models.setdefault(terms, model)
        while len(_base_models) > BASE_MODELS_KEPT:
            _base_models.popitem(last=False)
        return kept


def _train_base(terms: tuple[TopicTerms, ...]) -> TopicModel:
    return TopicModel.train(terms, shipped_examples())


@cache
def _training_process() -> ProcessPoolExecutor:
    """The process that trains models: started for a training and gone after it (with the
    memory scikit-learn and the word vectors took there). Spawned, not forked: this process
    has threads."""
    return ProcessPoolExecutor(
        max_workers=1, mp_context=multiprocessing.get_context("spawn"), max_tasks_per_child=1
    )


def _pickled(train: Callable[..., TopicModel], *args: object) -> bytes:
    """Train, in the training process; the model is sent back as bytes (see ``_unpickled``)."""
    return pickle.dumps(train(*args), protocol=pickle.HIGHEST_PROTOCOL)


_loading = threading.Lock()
# While a model is loaded, the interpreter's lock changes hands this often (seconds; Python's
# default is 0.005), so the event loop is not kept waiting by the loading thread at each I/O.
LOADING_SWITCH_INTERVAL = 0.0005


def _unpickled(blob: bytes) -> TopicModel:
    """The model, with scikit-learn imported and the word vectors loaded (about a second and
    a half the first time, in a worker thread): not by the first suggestion, on the loop."""
    with _loading:
        previous = sys.getswitchinterval()
        sys.setswitchinterval(LOADING_SWITCH_INTERVAL)
        try:
            model = pickle.loads(blob)  # noqa: S301 - made by this program's own child process
            load_word_vectors()
        finally:
            sys.setswitchinterval(previous)
    if not isinstance(model, TopicModel):
        raise TypeError("the training process sent something else than a model")
    return model


async def _trained(train: Callable[..., TopicModel], *args: object) -> TopicModel:
    """A model trained in the training process (in a thread, should no process start)."""
    loop = asyncio.get_running_loop()
    try:
        blob = await loop.run_in_executor(_training_process(), _pickled, train, *args)
    except (BrokenProcessPool, OSError) as error:
        log.warning("training in a process of its own failed (%s); training in a thread", error)
        _training_process.cache_clear()
        blob = await asyncio.to_thread(_pickled, train, *args)
    return await asyncio.to_thread(_unpickled, blob)


class Suggesters:
    """The topic model of each programme; see the module's description."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self.session_factory = session_factory
        self._models: dict[tuple[int, tuple[TopicTerms, ...]], tuple[Version, TopicModel]] = {}
        self._training: dict[tuple[int, tuple[TopicTerms, ...]], asyncio.Task[None]] = {}
        # The newest examples a request has seen, per model: a training still on its way when
        # they came is followed by another.
        self._wanted: dict[tuple[int, tuple[TopicTerms, ...]], Version] = {}

    async def warm_up(self, topics: Sequence[Topic]) -> None:
        """Train the shipped examples' model now rather than for the first request."""
        terms = terms_of(topics)
        if trained_base_model(terms) is None:
            _keep_base_model(terms, await _trained(_train_base, terms))

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

    async def _train(self, key: tuple[int, tuple[TopicTerms, ...]]) -> None:
        programme_id, terms = key
        version: Version | None = None
        try:
            while version is None or _newer(self._wanted.get(key), version):
                async with self.session_factory() as session:
                    version = await _version(session, programme_id)
                    own = await examples_of(session, programme_id)
                if own:
                    examples = [*shipped_examples(), *own]
                    model = await _trained(TopicModel.train, terms, examples)
                else:
                    model = trained_base_model(terms) or _keep_base_model(
                        terms, await _trained(_train_base, terms)
                    )
                self._models[key] = (version, model)
        except Exception:
            log.exception("training the topic model of programme %s failed", programme_id)
            previous = self._models.get(key)
            if previous is not None and version is not None:
                self._models[key] = (version, previous[1])  # not tried again until they change
        finally:
            self._training.pop(key, None)


def _newer(seen: Version | None, trained: Version) -> bool:
    """Whether a request saw a label later than the ones a model was trained on."""
    if seen is None or seen[1] is None:
        return False
    return trained[1] is None or seen[1] > trained[1]
