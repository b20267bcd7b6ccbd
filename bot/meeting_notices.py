"""What the bot tells people about meetings on its own: announcements, changes, reminders.

Every message goes through ``Delivery`` in the language and zone of the chat it goes to, so
a chat the bot cannot reach is recorded and never breaks the command that triggered it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.delivery import Attachment, Delivery
from bot.domain import meetings
from bot.domain.meetings import Place
from bot.domain.people import language_of
from bot.i18n import locale
from bot.views.calendar import ics_filename, meeting_ics
from bot.views.meetings import (
    announcement_text,
    cancelled_announcement,
    cancelled_text,
    moved_text,
    reminder_text,
    rsvp_keyboard,
    title_of,
)
from models import Meeting, Person

log = logging.getLogger(__name__)

# meeting, zone, language -> text, called with that language active
Render = Callable[[Meeting, str, str], str]


class MeetingNotices:
    """Sends meeting messages within one transaction (a handler's or a reminder job's)."""

    def __init__(
        self,
        session: AsyncSession,
        delivery: Delivery,
        i18n: I18n,
        settings: Settings,
        now: datetime,
    ) -> None:
        self.session = session
        self.delivery = delivery
        self.i18n = i18n
        self.settings = settings
        self.now = now

    async def places(self, meeting: Meeting) -> list[Place]:
        return await meetings.places(
            self.session, meeting, self.settings.default_timezone, self.settings.default_language
        )

    async def host_name(self, meeting: Meeting) -> str | None:
        if meeting.ticket_id is None or meeting.created_by_id is None:
            return None
        host = await self.session.get(Person, meeting.created_by_id)
        return host.display_name if host is not None else None

    def ics(self, meeting: Meeting, language: str) -> Attachment:
        offsets = self.settings.reminder_offsets
        with locale(self.i18n, language):
            alarm_text = _("Starts soon: {title}").format(title=meeting.title)
        content = meeting_ics(
            meeting,
            now=self.now,
            alarm_before=min(offsets) if offsets else None,
            alarm_text=alarm_text,
        )
        return Attachment(filename=ics_filename(meeting), content=content)

    async def send_ics(
        self,
        meeting: Meeting,
        chat_id: int,
        language: str,
        *,
        reply_to: int | None,
        person_id: int | None,
    ) -> None:
        await self.delivery.send_document(
            self.session,
            chat_id,
            self.ics(meeting, language),
            purpose="meeting_ics",
            reply_to=reply_to,
            person_id=person_id,
        )

    async def announce(self, meeting: Meeting) -> list[Place]:
        """Post the announcement with RSVP buttons and the ``.ics`` in every audience chat.

        Returns the places it could not reach.
        """
        counts = await meetings.counts(self.session, meeting.id)
        host = await self.host_name(meeting)
        missed: list[Place] = []
        for place in await self.places(meeting):
            with locale(self.i18n, place.language):
                text = announcement_text(meeting, place.zone, place.language, host=host)
                markup = rsvp_keyboard(meeting, counts)
            message = await self.delivery.send_text(
                self.session,
                place.chat_id,
                text,
                purpose="meeting",
                reply_markup=markup,
                person_id=place.person_id,
            )
            if message is None:
                missed.append(place)
                continue
            place.audience.announcement_message_id = message.message_id
            await self.send_ics(
                meeting,
                place.chat_id,
                place.language,
                reply_to=message.message_id,
                person_id=place.person_id,
            )
        await self.session.flush()
        return missed

    async def refresh_buttons(self, meeting: Meeting) -> None:
        """Put the current RSVP counts on every announcement."""
        counts = await meetings.counts(self.session, meeting.id)
        for place in await self.places(meeting):
            with locale(self.i18n, place.language):
                markup = rsvp_keyboard(meeting, counts)
            await self._edit_markup(place, markup)

    async def announce_cancelled(self, meeting: Meeting) -> int:
        """Tell the audience chats and those who said yes; take the buttons off. How many heard."""
        heard = 0
        places = await self.places(meeting)
        for place in places:
            with locale(self.i18n, place.language):
                text = cancelled_text(meeting, place.zone, place.language)
                struck = cancelled_announcement(meeting, place.zone, place.language)
            if await self._send(place.chat_id, text, place, purpose="meeting_cancelled"):
                heard += 1
            await self._edit_text(place, struck, None)
        heard += await self._tell_coming(meeting, places, cancelled_text, "meeting_cancelled")
        return heard

    async def announce_moved(self, meeting: Meeting, previous: datetime) -> int:
        """Tell the audience and those who said yes, with a new ``.ics``; update announcements."""
        counts = await meetings.counts(self.session, meeting.id)
        host = await self.host_name(meeting)
        heard = 0
        places = await self.places(meeting)
        for place in places:
            with locale(self.i18n, place.language):
                text = moved_text(meeting, previous, counts, place.zone, place.language)
                updated = announcement_text(meeting, place.zone, place.language, host=host)
                markup = rsvp_keyboard(meeting, counts)
            if await self._send(place.chat_id, text, place, purpose="meeting_moved"):
                heard += 1
                await self.send_ics(
                    meeting,
                    place.chat_id,
                    place.language,
                    reply_to=place.audience.announcement_message_id,
                    person_id=place.person_id,
                )
            await self._edit_text(place, updated, markup)

        def render(meeting: Meeting, zone_name: str, language: str) -> str:
            return moved_text(meeting, previous, counts, zone_name, language)

        heard += await self._tell_coming(meeting, places, render, "meeting_moved")
        return heard

    async def remind(self, meeting: Meeting) -> int:
        """The reminder, to the audience chats and privately to those who said yes."""
        sent = 0
        recipients = await meetings.recipients(
            self.session, meeting, self.settings.default_timezone, self.settings.default_language
        )
        for recipient in recipients:
            with locale(self.i18n, recipient.language):
                text = reminder_text(meeting, recipient.zone, recipient.language, self.now)
            message = await self.delivery.send_text(
                self.session,
                recipient.chat_id,
                text,
                purpose="meeting_reminder",
                person_id=recipient.person_id,
            )
            if message is not None:
                sent += 1
        return sent

    # --- helpers ---------------------------------------------------------------------------

    async def _send(self, chat_id: int, text: str, place: Place, *, purpose: str) -> bool:
        message = await self.delivery.send_text(
            self.session,
            chat_id,
            text,
            purpose=purpose,
            reply_to=place.audience.announcement_message_id,
            person_id=place.person_id,
        )
        return message is not None

    async def _tell_coming(
        self, meeting: Meeting, places: list[Place], render: Render, purpose: str
    ) -> int:
        """Privately tell those who said yes, unless the message already reached their chat."""
        reached = {place.chat_id for place in places}
        heard = 0
        for person in await meetings.coming_people(self.session, meeting.id):
            if person.telegram_id in reached:
                continue
            language = language_of(person, self.settings.default_language)
            zone_name = person.timezone or self.settings.default_timezone
            with locale(self.i18n, language):
                text = render(meeting, zone_name, language)
            message = await self.delivery.send_text(
                self.session, person.telegram_id, text, purpose=purpose, person_id=person.id
            )
            if message is not None:
                heard += 1
        return heard

    async def _edit_markup(self, place: Place, markup: InlineKeyboardMarkup | None) -> None:
        if place.audience.announcement_message_id is None:
            return
        try:
            await self.delivery.bot.edit_message_reply_markup(
                chat_id=place.chat_id,
                message_id=place.audience.announcement_message_id,
                reply_markup=markup,
            )
        except (TelegramBadRequest, TelegramForbiddenError) as error:
            # "message is not modified" or a deleted announcement: nothing to put right.
            log.info("announcement %s not updated: %s", place.audience.id, error.message)

    async def _edit_text(
        self, place: Place, text: str, markup: InlineKeyboardMarkup | None
    ) -> None:
        if place.audience.announcement_message_id is None:
            return
        try:
            await self.delivery.bot.edit_message_text(
                text=text,
                chat_id=place.chat_id,
                message_id=place.audience.announcement_message_id,
                reply_markup=markup,
            )
        except (TelegramBadRequest, TelegramForbiddenError) as error:
            log.info("announcement %s not updated: %s", place.audience.id, error.message)


def heading(meeting: Meeting) -> str:
    """``#7 «Title»`` for confirmations to the person who made a change."""
    return f"#{meeting.id} " + title_of(meeting)
