#!/usr/bin/env python3
"""The project's commands, needing only Python 3.11+ on the machine.

    python3 dev.py demo   # set up .venv if needed, then the sandbox: the bot against a
                          # built-in Telegram, a web page on http://127.0.0.1:8088, no token
                          # (add --empty to start without the seeded programme)
    python3 dev.py run    # set up .venv if needed, then start the bot (python -m bot)
    python3 dev.py test   # set up .venv if needed, then ruff, mypy, the Dockerfile, compose
                          # and nginx checks (hadolint, check-jsonschema, gixy) and pytest

With TEST_DATABASE_URL (PostgreSQL) set, ``test`` runs the suite a second time against it
(with TEST_REDIS_URL too, if set); .ci/run does that with the machine's local services.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import venv
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"
STAMP = VENV / ".install-stamp"


def _say(text: str) -> None:
    print(f"==> {text}", flush=True)  # noqa: T201


def ensure_env(extras: str) -> None:
    """Create .venv and install the project when pyproject.toml changed since the last install."""
    if not PYTHON.exists():
        _say("creating .venv")
        venv.EnvBuilder(with_pip=True).create(VENV)
    project = (ROOT / "pyproject.toml").read_bytes()
    wanted = hashlib.sha256(project + extras.encode()).hexdigest()
    installed = STAMP.read_text().split() if STAMP.exists() else []
    # The dev extras hold everything the bot itself needs too.
    if wanted in installed or hashlib.sha256(project + b"dev").hexdigest() in installed:
        return
    _say(f"installing dependencies{' (' + extras + ')' if extras else ''}")
    quiet = [] if os.environ.get("VERBOSE") else ["-q"]
    subprocess.run(
        [str(PYTHON), "-m", "pip", "install", *quiet, "--upgrade", "pip"], check=True, cwd=ROOT
    )
    target = f".[{extras}]" if extras else "."
    subprocess.run(
        [str(PYTHON), "-m", "pip", "install", *quiet, "-e", target], check=True, cwd=ROOT
    )
    STAMP.write_text(" ".join([*installed, wanted]))


def _serve(arguments: list[str]) -> int:
    """Run the bot in the foreground. Ctrl+C reaches it from the terminal; a SIGTERM sent to
    this script (a service manager, a test) is passed on, so the bot stops as it should."""
    bot = subprocess.Popen([str(PYTHON), "-m", "bot", *arguments], cwd=ROOT)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda signum, _frame: bot.send_signal(signum))
    return bot.wait()


def run() -> int:
    ensure_env("")
    return _serve([])


def demo(options: list[str]) -> int:
    ensure_env("")
    return _serve(["--sandbox", *options])


def _step(name: str, command: list[str], env: dict[str, str] | None = None) -> bool:
    _say(name)
    code = subprocess.call(command, cwd=ROOT, env=env)
    if code != 0:
        _say(f"{name}: FAILED (exit {code})")
    return code == 0


Running = list[tuple[str, subprocess.Popen[bytes], IO[bytes]]]


def _start_suites(
    tool: str, suites: list[tuple[str, dict[str, str], list[str]]], pytest_args: list[str]
) -> Running:
    """Start the suites side by side: most of their time is spent waiting (reminders due in
    a few seconds, long polls), so several runs take little longer than one, and the static
    checks run meanwhile."""
    base = Path(tempfile.mkdtemp(prefix="mentordesk-tests-"))
    running: Running = []
    for number, (name, env, own_args) in enumerate(suites):
        _say(f"{name}: started")
        log = (base / f"suite-{number}.log").open("w+b")
        command = [
            tool, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            f"--basetemp={base / f'tmp-{number}'}", *own_args, *pytest_args,
        ]  # fmt: skip
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
        running.append((name, process, log))
    return running


def _finish_suites(running: Running) -> list[bool]:
    """Wait for each suite, then show its output whole."""
    results = []
    for name, process, log in running:
        code = process.wait()
        log.seek(0)
        _say(f"{name}: output")
        sys.stdout.buffer.write(log.read())
        sys.stdout.flush()
        log.close()
        if code != 0:
            _say(f"{name}: FAILED (exit {code})")
        results.append(code == 0)
    return results


# The tests that start the bot as real processes and then mostly wait on them: for reminders
# to fall due, leases to lapse, a killed bot to be started again, Telegram or the database to
# come back. They run beside the rest.
_WAITING = [
    "tests/test_faults.py",
    "tests/test_main.py",
    "tests/test_pipeline_crash.py",
    "tests/test_replicas.py",
    "tests/test_schedule_reminders.py",
    "tests/test_separate_sender.py",
    "tests/test_single_poller.py",
    "tests/test_tickets_claim.py",
]


def _halves(
    name: str, env: dict[str, str], args: list[str]
) -> list[tuple[str, dict[str, str], list[str]]]:
    """A suite as two pytest runs side by side: the waiting tests, and the rest. Each run
    keeps its dialogues in a Redis database of its own, as every test empties it."""
    other = dict(env)
    if "TEST_REDIS_URL" in env:
        parts = urlsplit(env["TEST_REDIS_URL"])
        number = int(parts.path.strip("/") or 0)
        spare = number - 1 if number > 0 else 1
        other["TEST_REDIS_URL"] = urlunsplit(parts._replace(path=f"/{spare}"))
    rest = [f"--ignore={path}" for path in _WAITING]
    return [(f"{name}, waiting tests", env, [*args, *_WAITING]), (name, other, [*args, *rest])]


def test(pytest_args: list[str]) -> int:
    ensure_env("dev")
    tool = str(PYTHON)
    sqlite_env = {
        k: v for k, v in os.environ.items() if k not in ("TEST_DATABASE_URL", "TEST_REDIS_URL")
    }
    suites: list[tuple[str, dict[str, str], list[str]]] = [("pytest on SQLite", sqlite_env, [])]
    if os.environ.get("TEST_DATABASE_URL"):
        # Tests that use no database of the suite's would only repeat the SQLite run's work.
        suites.append(
            ("pytest on PostgreSQL (+ Redis if set)", dict(os.environ), ["-m", "not no_database"])
        )
    if not pytest_args:  # the whole suite: each half of it in a pytest of its own
        suites = [half for suite in suites for half in _halves(*suite)]
    running = _start_suites(tool, suites, pytest_args)
    results = [
        _step("ruff check", [tool, "-m", "ruff", "check", "."]),
        _step("ruff format --check", [tool, "-m", "ruff", "format", "--check", "."]),
        _step("mypy (strict)", [tool, "-m", "mypy"]),
        _step("hadolint Dockerfile", [str(BIN / "hadolint"), "Dockerfile"]),
        _step(
            "docker-compose.yml against the compose-spec schema",
            [
                str(BIN / "check-jsonschema"),
                "--builtin-schema",
                "vendor.compose-spec",
                "docker-compose.yml",
            ],
        ),
        # HSTS speaks to browsers; only Telegram calls the load balancer.
        _step(
            "gixy deploy/nginx.conf",
            [str(BIN / "gixy"), "--skips", "hsts_header", "deploy/nginx.conf"],
        ),
        _step("catalogue completeness", [tool, "scripts/i18n.py", "check"]),
    ]
    results.extend(_finish_suites(running))
    ok = all(results)
    _say("all checks passed" if ok else "some checks FAILED")
    return 0 if ok else 1


def main(argv: list[str]) -> int:
    match argv:
        case ["run"]:
            return run()
        case ["demo", *options] if set(options) <= {"--empty"}:
            return demo(options)
        case ["test", *rest]:
            return test(rest)
        case ["setup"]:
            ensure_env("dev")
            return 0
        case _:
            print(__doc__)  # noqa: T201
            return 2


if __name__ == "__main__":
    if sys.version_info < (3, 11):  # noqa: UP036 - the message is the point on older Pythons
        sys.exit("MentorDesk needs Python 3.11 or newer.")
    sys.exit(main(sys.argv[1:]))
