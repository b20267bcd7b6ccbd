"""``python -m bot``: read settings, apply migrations, then poll or serve the webhook."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from pydantic import ValidationError

from bot.app import build_app, run_polling, run_webhook
from bot.config import Settings
from bot.delivery.poller_lock import AnotherPoller

NO_TOKEN = (
    "BOT_TOKEN is not set. Create a bot with @BotFather in Telegram (/newbot), copy the token "
    "it gives you into .env as BOT_TOKEN=123456:ABC... (see .env.example), and run again."
)


async def _serve(settings: Settings) -> None:
    app = build_app(settings)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        # Stop taking updates, finish the ones being handled and the sends on their way; what
        # is left waits in the database for the next start.
        loop.add_signal_handler(signum, app.stop)
    if settings.webhook_url:
        await run_webhook(app)
    else:
        await run_polling(app)


def main() -> int:
    try:
        settings = Settings()
    except ValidationError as error:
        print(f"Configuration error:\n{error}", file=sys.stderr)  # noqa: T201
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if settings.bot_token is None or not settings.bot_token.get_secret_value().strip():
        print(NO_TOKEN, file=sys.stderr)  # noqa: T201
        return 2
    try:
        asyncio.run(_serve(settings))
    except AnotherPoller as refused:
        print(refused, file=sys.stderr)  # noqa: T201
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
