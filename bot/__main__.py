"""``python -m bot``: read settings, apply migrations, then poll or serve the webhook.

``python -m bot --sandbox [--empty]`` runs the bot against the built-in Bot API emulator instead,
with a web page to act as the people of a seeded programme (or of none, with ``--empty``).
``python -m bot --sender`` only sends the outbox, beside bot processes run with
``SENDER=separate`` (PostgreSQL).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable

from pydantic import ValidationError

from bot.app import build_app, run_polling, run_sender, run_webhook
from bot.config import Settings
from bot.delivery.poller_lock import AnotherPoller

NO_TOKEN = (
    "BOT_TOKEN is not set. Create a bot with @BotFather in Telegram (/newbot), copy the token "
    "it gives you into .env as BOT_TOKEN=123456:ABC... (see .env.example), and run again."
)


async def _serve(settings: Settings, *, sender_only: bool) -> None:
    app = build_app(settings)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        # Stop taking updates, finish the ones being handled and the sends on their way; what
        # is left waits in the database for the next start.
        loop.add_signal_handler(signum, app.stop)
    if sender_only:
        await run_sender(app)
    elif settings.webhook_url:
        await run_webhook(app)
    else:
        await run_polling(app)


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop where it is installed (not on Windows): the same asyncio, at less
    CPU per message. Else asyncio's own."""
    try:
        import uvloop  # noqa: PLC0415
    except ImportError:
        return None
    return uvloop.new_event_loop


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sandbox",
        action="store_true",
        help="run against the built-in Bot API emulator, with a web page on 127.0.0.1 "
        "(SANDBOX_PORT, 8088 by default); no token needed",
    )
    parser.add_argument(
        "--sender",
        action="store_true",
        help="only send the outbox (PostgreSQL), beside bot processes run with SENDER=separate",
    )
    parser.add_argument(
        "--empty",
        action="store_true",
        help="with --sandbox: no seeded programme; start from /register and /invite",
    )
    return parser.parse_args(argv)


def _sandbox(settings: Settings, *, empty: bool) -> int:
    # Loaded only for the sandbox: a deployment does not carry the emulator into memory.
    from bot.sandbox.run import SandboxBusy, run_sandbox  # noqa: PLC0415

    try:
        asyncio.run(run_sandbox(settings, port=settings.sandbox_port, empty=empty))
    except SandboxBusy as busy:
        print(busy, file=sys.stderr)  # noqa: T201
        return 3
    except KeyboardInterrupt:  # Ctrl+C before the bot took over the signal
        return 130
    except OSError as error:
        print(f"The sandbox could not start: {error}", file=sys.stderr)  # noqa: T201
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    arguments = _arguments(argv)
    try:
        settings = Settings()
    except ValidationError as error:
        print(f"Configuration error:\n{error}", file=sys.stderr)  # noqa: T201
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if arguments.sandbox:
        return _sandbox(settings, empty=arguments.empty)
    if settings.bot_token is None or not settings.bot_token.get_secret_value().strip():
        print(NO_TOKEN, file=sys.stderr)  # noqa: T201
        return 2
    if arguments.sender and settings.database_url.startswith("sqlite"):
        print(  # noqa: T201
            "--sender needs PostgreSQL: on SQLite the bot's own process sends.", file=sys.stderr
        )
        return 2
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(_serve(settings, sender_only=arguments.sender))
    except AnotherPoller as refused:
        print(refused, file=sys.stderr)  # noqa: T201
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
