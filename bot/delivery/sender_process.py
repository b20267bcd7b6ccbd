"""The outbox's sender in a process of its own, beside the process that takes updates.

Under a burst, handling requests and sending what they say each keep a CPU core busy; in one
Python process they take turns on one core. So ``python -m bot`` starts a second process
(``SENDER_PROCESS``: by default where the bot may use more than one core) that runs only the
delivery scheduler (``bot.delivery.scheduler``), and the bot's own process sends nothing but
its answers to button presses.

The two speak through pipes, the way the scheduler is spoken to inside one process:

- down (a pipe; its stdin when launched anew): first the settings and the bot process's
  name, then, for each transaction that wrote to the outbox, the rows it committed
  (``Scheduler.adopt``), so they are held and sent at once without being claimed; an empty
  line when a transaction wrote rows nobody held (the sender was not sending yet): the sender
  claims them now, not at its next poll.
- up (a pipe; its stdout when launched anew): twice a second, and whenever it starts or stops
  sending, whether it sends and what it counted for the metrics meanwhile; the bot's
  ``/healthz`` and ``/metrics`` show it as their own.
- On SQLite, also up: ``{"lock": true}`` when a transaction of the sender's finds the file
  locked, and ``{"lock": false}`` when it has ended (``bot.db.sqlite_inline.on_contention``).
  Under a burst the bot process starts a transaction as soon as the last one commits, and
  the sender, trying now and then, would find the file locked for as long as the burst lasts,
  with every message it sent waiting to be recorded. So the bot process lends it the turn:
  it holds its own write lock (``bot.db.write_lock``) from the end of its current transaction
  until the sender's has ended (at most ``LEND_SECONDS``).

The sender process leases rows and the sender's role under the bot process's own name: a bot
started again after a crash finds them held by a process that is gone and takes them over at
once (``bot.delivery.leadership``). It lives and dies with the bot process: a SIGKILL of the
bot takes it too (Linux, ``PR_SET_PDEATHSIG``), it stops when its input closes (the bot stops
it that way, or died), it leaves SIGINT and SIGTERM to the bot, and the bot starts it again
if it ends alone. Whatever it held and had not sent is sent by the next sender, as after any
crash.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ctypes
import gc
import logging
import os
import pickle
import signal
import sys
import time
from collections.abc import Callable, Sequence
from typing import IO, Any

from bot import codec
from bot.config import Settings
from bot.db import WriteLock, create_engine, create_session_factory, sqlite_inline
from bot.delivery.outbox import Row
from bot.delivery.scheduler import create_delivery
from bot.delivery.telegram import create_bot
from bot.i18n import create_i18n
from bot.jobs.undeliverable import Undeliverable
from bot.ops.metrics import Metrics

LoopFactory = Callable[[], asyncio.AbstractEventLoop] | None

log = logging.getLogger(__name__)

REPORT_SECONDS = 0.5
READY_SECONDS = 10.0
STOP_SECONDS = 15.0
RESTART_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)
# The longest the bot process holds back its writes for the sender's one transaction.
LEND_SECONDS = 0.25
# Long enough for one transaction's rows in a line.
LINE_LIMIT = 64 * 1024 * 1024


class _Child:
    """One sender process: started by ``python -m bot --sender-process``, or forked from the
    bot process before its event loop began (then sharing the modules it loaded)."""

    def __init__(
        self,
        pid: int,
        writer: asyncio.StreamWriter,
        reader: asyncio.StreamReader,
        process: asyncio.subprocess.Process | None = None,
    ) -> None:
        self.pid = pid
        self.writer = writer
        self.reader = reader
        self._process = process
        self._reaping: asyncio.Future[int] | None = None
        self.returncode: int | None = None

    @classmethod
    def spawned(cls, process: asyncio.subprocess.Process) -> _Child:
        assert process.stdin is not None and process.stdout is not None
        return cls(process.pid, process.stdin, process.stdout, process)

    @classmethod
    async def forked(cls, pid: int, to_child: int, from_child: int) -> _Child:
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, os.fdopen(to_child, "wb", buffering=0)
        )
        writer = asyncio.StreamWriter(transport, protocol, None, loop)
        reader = asyncio.StreamReader(limit=LINE_LIMIT)
        await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(from_child, "rb", buffering=0)
        )
        return cls(pid, writer, reader)

    async def wait(self) -> int:
        """Its exit code, once it has ended (any number of callers wait for the one reaping)."""
        if self._reaping is None:
            self._reaping = asyncio.ensure_future(self._reap())
        return await asyncio.shield(self._reaping)

    async def _reap(self) -> int:
        if self._process is not None:
            self.returncode = await self._process.wait()
        else:
            _pid, status = await asyncio.to_thread(os.waitpid, self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)


class SenderProcess:
    """The sender process, as the bot process sees it (``Scheduler.send_elsewhere``).

    It is started as early as can be: ``fork`` before the bot's event loop begins, once the
    bot's modules are loaded (aiogram's types alone take seconds and 150 MB, which the two
    processes then share), else ``launch`` (a new ``python -m bot --sender-process``, which
    loads them while the bot migrates the database). ``start`` then hands it the settings and
    the bot process's name, and it begins. Started again after it died, it is launched."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.owner = ""
        self.username = ""
        self.metrics: Metrics | None = None
        self.leading = False
        self.running = False
        self.beat = time.monotonic()
        self.starts = 0
        self._process: _Child | None = None
        self._forked: tuple[int, int, int] | None = None  # pid, pipe to it, pipe from it
        self._watch: asyncio.Task[None] | None = None
        self._stopping = False
        self._write_lock: WriteLock | None = None  # the bot's, on SQLite: lent on request
        self._lending: asyncio.Task[None] | None = None
        self._given_back = asyncio.Event()

    @property
    def pid(self) -> int | None:
        if self._process is not None:
            return self._process.pid
        return self._forked[0] if self._forked is not None else None

    @classmethod
    def fork(cls, settings: Settings, loop_factory: LoopFactory) -> SenderProcess:
        """Fork the sender process now, before any event loop or thread exists. The forked
        process never returns from here: it sends until its input closes, then exits."""
        sender = cls(settings)
        # What both processes loaded stays shared: the collector of either would otherwise
        # write to every object it tracks (its header), and each page written is copied.
        gc.freeze()
        to_child, its_input = os.pipe()
        its_output, from_child = os.pipe()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the sender process
            _die_with(parent)
            os.close(its_input)
            os.close(its_output)
            code = 0
            try:
                run_sender(os.fdopen(to_child, "rb", buffering=0),
                           os.fdopen(from_child, "wb", buffering=0), loop_factory)  # fmt: skip
            except BaseException:
                log.exception("the sender process failed")
                code = 1
            finally:
                logging.shutdown()
                os._exit(code)
        os.close(to_child)
        os.close(from_child)
        sender._forked = (pid, its_input, its_output)
        return sender

    async def launch(self) -> None:
        if self._process is not None:
            return
        if self._forked is not None:
            self.starts += 1
            self._process = await _Child.forked(*self._forked)
            self._forked = None
            self.running = True
            self.beat = time.monotonic()
            return
        await self._spawn()

    async def start(
        self,
        owner: str,
        username: str,
        metrics: Metrics,
        ready_within: float = READY_SECONDS,
        *,
        write_lock: WriteLock | None = None,
    ) -> None:
        """Hand it over, and give it a moment to take the sender's role before updates flow
        (it does not get it while another replica sends; rows then wait for whoever does).
        ``username`` is the bot's, which the bot process has just asked Telegram for;
        ``write_lock`` the bot process's on an SQLite file, lent when the sender asks."""
        self.owner, self.username, self.metrics = owner, username, metrics
        self._write_lock = write_lock
        await self.launch()
        self._hand_over()
        self._watch = asyncio.create_task(self._supervise(), name="sender-process")
        deadline = time.monotonic() + ready_within
        while not self.leading and self.running and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    def adopt(self, rows: Sequence[Row]) -> None:
        """A transaction committed: its rows held by the sender, or a nudge to claim."""
        self._write(codec.dumps([vars(row) for row in rows]) if rows else "")

    def wake(self) -> None:
        self._write("")

    async def stop(self) -> None:
        """Close its stdin: it finishes the sends on their way and ends; killed if it hangs."""
        self._stopping = True
        if self._forked is not None:  # forked, never started (the bot stopped early): end it
            await self.launch()
        process = self._process
        if process is not None and process.returncode is None:
            process.writer.close()
            try:
                await asyncio.wait_for(process.wait(), STOP_SECONDS)
            except TimeoutError:
                log.warning("the sender process did not stop within %s s; killing it", STOP_SECONDS)
                process.kill()
                await process.wait()
        for task in (self._watch, self._lending):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self.running = self.leading = False

    def _write(self, line: str) -> None:
        process = self._process
        if process is None or process.writer.is_closing():
            return  # on its way back: it claims everything pending when it starts sending
        process.writer.write(line.encode() + b"\n")

    async def _spawn(self) -> None:
        self.starts += 1
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "--sender-process",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=LINE_LIMIT,
        )  # fmt: skip
        self._process = _Child.spawned(process)
        self.running = True
        self.beat = time.monotonic()

    def _hand_over(self) -> None:
        handover = pickle.dumps((self.settings, self.owner, self.username, os.getpid()))
        self._write(base64.b64encode(handover).decode())

    async def _supervise(self) -> None:
        """Take its reports; start it again when it ends while the bot runs."""
        failures = 0
        while True:
            process = self._process
            assert process is not None
            started = time.monotonic()
            while line := await process.reader.readline():
                self._report(line)
            code = await process.wait()
            self._given_back.set()  # whatever it asked for, it no longer needs
            self.running = self.leading = False
            if self.metrics is not None:
                self.metrics.sending(False)
            if self._stopping:
                return
            failures = 0 if time.monotonic() - started > 60 else failures + 1
            delay = RESTART_DELAYS[min(failures, len(RESTART_DELAYS) - 1)]
            log.error("the sender process ended (exit %s); starting it again in %.0f s",
                      code, delay)  # fmt: skip
            await asyncio.sleep(delay)
            if self._stopping:
                return
            await self._spawn()
            self._hand_over()

    def _report(self, line: bytes) -> None:
        try:
            report = codec.loads(line)
        except ValueError:
            log.warning("the sender process said something unexpected: %r", line[:200])
            return
        self.beat = time.monotonic()
        if "lock" in report:
            self._lock_asked(bool(report["lock"]))
            return
        self.leading = bool(report.get("leading"))
        metrics = self.metrics
        if metrics is None:
            return
        metrics.sending(self.leading)
        for seconds in report.get("delivered", []):
            metrics.delivered(float(seconds))
        for reason in report.get("refused", []):
            metrics.refused(str(reason))
        for _ in range(int(report.get("flooded", 0))):
            metrics.flooded()

    def _lock_asked(self, wanted: bool) -> None:
        """The sender's transaction found the file locked (or has ended): lend it the turn."""
        if not wanted:
            self._given_back.set()
            return
        self._given_back.clear()
        if self._write_lock is not None and (self._lending is None or self._lending.done()):
            self._lending = self._write_lock.lend(self._given_back, LEND_SECONDS)


class _Relayed(Metrics):
    """The sender process's metrics: kept until the next report carries them to the bot."""

    def __init__(self) -> None:
        super().__init__()
        self.leading = False
        self.changed = asyncio.Event()
        self.pending: dict[str, Any] = {"delivered": [], "refused": [], "flooded": 0}

    def delivered(self, seconds: float) -> None:
        self.pending["delivered"].append(round(seconds, 4))

    def refused(self, reason: str) -> None:
        self.pending["refused"].append(reason)

    def flooded(self) -> None:
        self.pending["flooded"] += 1

    def sending(self, leading: bool) -> None:
        self.leading = leading
        self.changed.set()

    def take(self) -> dict[str, Any]:
        report = {"leading": self.leading, **self.pending}
        self.pending = {"delivered": [], "refused": [], "flooded": 0}
        return report


def _die_with(parent: int) -> None:
    """Be killed when the bot process dies, however it dies (Linux); elsewhere the closed
    stdin stops this process."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(0)  # the bot died before this process could ask to die with it


def run_sender(given: IO[bytes], told: IO[bytes], loop_factory: LoopFactory) -> None:
    """The sender process's life: its own event loop (the bot's kind), reading ``given`` and
    reporting on ``told`` (its stdin and stdout, or the pipes of a fork)."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)  # the bot process decides when to stop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(serve(given, told))


async def serve(given: IO[bytes], told: IO[bytes]) -> None:
    """The sender process: read the handover, then send until its input closes."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), given)
    transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, told)
    out = asyncio.StreamWriter(transport, protocol, None, loop)

    def ask_for_turn(wanted: bool) -> Callable[[], None]:
        line = codec.dumps({"lock": wanted}).encode() + b"\n"
        return lambda: out.write(line)

    first = await reader.readline()
    if not first:
        return
    settings, owner, username, parent = pickle.loads(  # noqa: S301 - from our parent
        base64.b64decode(first)
    )
    _die_with(parent)
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s [sender]: %(message)s",
        force=True,  # a forked sender has the bot's handlers: it says it is the sender
    )
    engine = create_engine(settings.database_url)
    if engine.dialect.name == "sqlite":
        sqlite_inline.on_contention(ask_for_turn(True), ask_for_turn(False))
    session_factory = create_session_factory(engine)
    bot = create_bot(settings.token, settings.telegram_api_base)
    metrics = _Relayed()
    delivery = create_delivery(settings, bot, session_factory, owner, metrics)
    i18n = create_i18n(settings.default_language)
    # The bot's name as the bot process knows it: a hook needs it inside a transaction, where
    # no Bot API call may be made, and this process should not depend on asking again.
    Undeliverable(i18n, settings, delivery, bot, session_factory, username=username).register()
    running = asyncio.create_task(delivery.run(), name="delivery")

    async def report() -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(metrics.changed.wait(), REPORT_SECONDS)
            metrics.changed.clear()
            out.write(codec.dumps(metrics.take()).encode() + b"\n")

    reporting = asyncio.create_task(report(), name="reports")
    try:
        while line := await reader.readline():
            line = line.strip()
            if not line:
                delivery.claim_soon()
                continue
            delivery.adopt([Row(**fields) for fields in codec.loads(line)])
    finally:
        await delivery.stop()
        for task in (running, reporting):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await bot.session.close()
        await engine.dispose()
