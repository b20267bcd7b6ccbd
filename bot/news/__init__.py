"""Who hears what: the messages an event sends, rendered by views, written to the outbox.

``News`` is what both kinds share: the transaction, its outbox, and speaking each
recipient's language. Nothing here talks to Telegram or commits.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar, cast

from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.delivery.outbox import Outbox
from bot.domain.people import Speaker, language_of
from bot.i18n import locale
from models import Base, Person

Row = TypeVar("Row", bound=Base)


class News:
    """The messages of one transaction (a handler's or a job's)."""

    def __init__(
        self,
        session: AsyncSession,
        outbox: Outbox,
        i18n: I18n,
        settings: Settings,
        now: datetime,
    ) -> None:
        self.session = session
        self.outbox = outbox
        self.i18n = i18n
        self.settings = settings
        self.now = now
        self._held: dict[tuple[type[Any], int], Any] = {}

    def language(self, person: Speaker | None) -> str:
        return language_of(person, self.settings.default_language)

    @contextmanager
    def speaking(self, person: Speaker | None) -> Iterator[str]:
        """Render in the person's language (the deployment's default for nobody)."""
        language = self.language(person)
        with locale(self.i18n, language):
            yield language

    async def get(self, model: type[Row], key: int | None) -> Row | None:
        """A row by its id, read once per transaction: a card per mentor reads the same
        author, topic and group. Held here, as the session keeps rows only while they are
        referred to."""
        if key is None:
            return None
        found = self._held.get((model, key))
        if found is None:
            found = await self.session.get(model, key)
            if found is not None:
                self._held[(model, key)] = found
        return cast(Row | None, found)

    async def person(self, person_id: int | None) -> Person | None:
        return await self.get(Person, person_id)
