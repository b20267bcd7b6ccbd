"""Logs carry no person's text: an exception is written as its kinds and frames, never its
message, which may quote a request, a name or a value of a failed statement."""

from __future__ import annotations

import logging
import traceback
from typing import Any

from aiogram.exceptions import TelegramAPIError


def described(error: BaseException) -> str:
    """The error's kind; for Telegram's refusals, Telegram's own words (they quote nobody)."""
    if isinstance(error, TelegramAPIError):
        return f"{type(error).__name__}: {error.message}"
    return type(error).__name__


def traced(error: BaseException) -> str:
    """The error and those that caused it, each with its frames (file, line, code)."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts.append(
            "".join(traceback.format_tb(current.__traceback__)) + described(current) + "\n"
        )
        current = current.__cause__ or current.__context__
    return "Traceback (messages left out), the last error first:\n" + "\n".join(parts)


def keep_private() -> None:
    """From now on every log record made with an exception (``log.exception``, ``exc_info``,
    by any library) carries the exception as ``traced`` gives it instead."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "keeps_private", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if record.exc_info and record.exc_info[1] is not None:
            trace = traced(record.exc_info[1])
            record.msg = f"{record.msg}\n{trace.replace('%', '%%') if record.args else trace}"
            record.exc_info = None
            record.exc_text = None
        return record

    factory.keeps_private = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
