"""Processing capacity of webhook replicas on PostgreSQL: one replica against two.

    .venv/bin/python bench/replicas.py [--runs 3] [--requests 300]
                                       [--postgres postgresql://...] [--redis redis://...]

Everything runs on this machine: the fake Bot API of the tests with no limits of its own, a
round-robin balancer (``tests/balancer.py``) in front of one or two ``python -m bot``
processes in webhook mode, with the bot's own send limits raised through settings, on a fresh
PostgreSQL database each run, and Redis for dialogues. A burst of requests in 10 groups with 2
mentors; requests per second from the burst to the last card. The two set-ups alternate, so
the machine's drift hits both alike; the script reports each, and the ratio two / one, with
the CPU seconds each process spent, which shows what limits the figure.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.pipeline import DEFAULT_POSTGRES, RAISED, burst, database, say  # noqa: E402
from bench.pipeline import Stage as _Stage  # noqa: E402
from bot.sandbox.emulator.server import FakeTelegram, Limits  # noqa: E402
from tests.balancer import RoundRobin, free_port  # noqa: E402
from tests.burst import BotProcess, bot_env, eventually, seed  # noqa: E402

DEFAULT_REDIS = "redis://127.0.0.1:6379/14"
HOOK = "/telegram/hook"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def postgres_cpu_seconds() -> float:
    """CPU time of every PostgreSQL process of this machine (its server and backends)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() == "postgres":
                total += cpu_seconds(int(entry.name))
        except OSError:
            continue  # ended meanwhile
    return total


def own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


@dataclass
class Run:
    rate: float  # requests per second
    wall: float
    replicas_cpu: list[float]
    bench_cpu: float  # this process: the fake Telegram and the balancer
    postgres_cpu: float


async def once(replicas: int, count: int, postgres: str, redis: str, workdir: Path) -> Run:
    server = FakeTelegram(limits=Limits.off())
    await server.start()
    ports = [free_port() for _ in range(replicas)]
    balancer = RoundRobin([f"http://127.0.0.1:{port}" for port in ports])
    await balancer.start()
    bots: list[BotProcess] = []
    try:
        async with database("postgresql", postgres, workdir) as url:
            cast = await seed(url, server, groups=10, mentors=2)
            for number, port in enumerate(ports):
                run_dir = Path(tempfile.mkdtemp(dir=workdir))
                env = bot_env(
                    url,
                    server,
                    **RAISED,
                    REDIS_URL=redis,
                    WEBHOOK_URL=balancer.url + HOOK,
                    WEBHOOK_SECRET="bench-secret",
                    WEBHOOK_PORT=str(port),
                    HOSTNAME=f"replica-{number + 1}",
                )
                bot = BotProcess(env, run_dir)
                bots.append(bot)
                await bot.start(server, ready_url=f"http://127.0.0.1:{port}/healthz")
            await asyncio.sleep(1.0)  # start-up jobs out of the way
            pids = [bot.process.pid for bot in bots if bot.process is not None]
            cpu_before = [cpu_seconds(pid) for pid in pids]
            own_before = own_cpu_seconds()
            postgres_before = postgres_cpu_seconds()
            tally = await burst(_Stage(server, cast, bots[0]), count)
            started = time.monotonic()
            expected = count * (1 + len(cast.mentors))

            def done() -> bool:
                sends = sum(1 for c in server.calls if c.method == "sendMessage" and c.ok)
                return sends >= expected and tally.acknowledged() == count

            await eventually(done, 300, "every acknowledgement and card")
            last = max(c.at for c in server.calls if c.method == "sendMessage")
            wall = last - started
            return Run(
                rate=count / wall,
                wall=wall,
                replicas_cpu=[
                    cpu_seconds(pid) - before for pid, before in zip(pids, cpu_before, strict=True)
                ],
                bench_cpu=own_cpu_seconds() - own_before,
                postgres_cpu=postgres_cpu_seconds() - postgres_before,
            )
    finally:
        for bot in bots:
            await bot.stop()
        await balancer.stop()
        await server.stop()


def describe(name: str, runs: list[Run]) -> str:
    rates = [r.rate for r in runs]
    cpu = [
        statistics.median(r.replicas_cpu[i] for r in runs) for i in range(len(runs[0].replicas_cpu))
    ]
    return (
        f"{name}: {statistics.median(rates):6.1f} req/s "
        f"(runs {', '.join(f'{v:.0f}' for v in rates)}); "
        f"CPU s per replica {', '.join(f'{c:.1f}' for c in cpu)}, "
        f"fake Telegram + balancer {statistics.median(r.bench_cpu for r in runs):.1f}, "
        f"PostgreSQL {statistics.median(r.postgres_cpu for r in runs):.1f}, "
        f"over {statistics.median(r.wall for r in runs):.1f} s"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES)
    parser.add_argument("--redis", default=DEFAULT_REDIS)
    args = parser.parse_args()
    say(
        f"== capacity: {args.requests} requests in 10 groups, 2 mentors, limits raised, "
        "webhook replicas on PostgreSQL behind a round-robin balancer =="
    )
    one: list[Run] = []
    two: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="mentordesk-bench-") as tmp:
        workdir = Path(tmp)
        for _ in range(args.runs):
            one.append(await once(1, args.requests, args.postgres, args.redis, workdir))
            two.append(await once(2, args.requests, args.postgres, args.redis, workdir))
    say(describe("1 replica ", one))
    say(describe("2 replicas", two))
    ratios = [b.rate / a.rate for a, b in zip(one, two, strict=True)]
    say(
        f"ratio 2 / 1: median {statistics.median(ratios):.2f} "
        f"(min {min(ratios):.2f}, max {max(ratios):.2f}); this machine has {os.cpu_count()} cores"
    )


if __name__ == "__main__":
    asyncio.run(main())
