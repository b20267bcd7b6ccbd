"""Who hears what about a meeting: announcements with RSVP buttons and an ``.ics``, changes,
and reminders, each in the language and zone of the chat it goes to.

Everything is written to the caller's outbox in the caller's transaction (a handler's, or the
reminder job's, whose "sent" mark is in the same one): nothing here talks to Telegram.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _

from bot.delivery.outbox import Document, FollowUp, MessageRef
from bot.domain import meetings
from bot.domain.meetings import CallAbout, Place
from bot.domain.tickets import ticket_topic
from bot.i18n import locale
from bot.news import News
from bot.views.calendar import ics_filename, meeting_ics
from bot.views.meetings import (
    announcement_text,
    cancelled_announcement,
    cancelled_text,
    host_booked_text,
    host_cancelled_text,
    host_moved_text,
    moved_text,
    reminder_text,
    rsvp_keyboard,
    title_of,
)
from models import Meeting, MeetingAudience, Person

# meeting, zone, language -> text, called with that language active
Render = Callable[[Meeting, str, str], str]


def announcement(audience: MeetingAudience) -> MessageRef | None:
    """The announcement in one chat: by its Telegram id, or the outbox row still sending it."""
    return MessageRef.of(audience.announcement_message_id, audience.announcement_outbox_id)


class MeetingNews(News):
    """The messages about meetings of one transaction."""

    async def places(self, meeting: Meeting) -> list[Place]:
        return await meetings.places(
            self.session, meeting, self.settings.default_timezone, self.settings.default_language
        )

    async def host_name(self, meeting: Meeting) -> str | None:
        if meeting.ticket_id is None or meeting.created_by_id is None:
            return None
        host = await self.session.get(Person, meeting.created_by_id)
        return host.display_name if host is not None else None

    def ics(self, meeting: Meeting, language: str) -> Document:
        offsets = self.settings.reminder_offsets
        with locale(self.i18n, language):
            alarm_text = _("Starts soon: {title}").format(title=meeting.title)
        content = meeting_ics(
            meeting,
            now=self.now,
            alarm_before=min(offsets) if offsets else None,
            alarm_text=alarm_text,
        )
        return Document(filename=ics_filename(meeting), content=content)

    async def send_ics(
        self,
        meeting: Meeting,
        chat_id: int,
        language: str,
        *,
        reply_to: MessageRef | None,
        person_id: int | None,
        topic: MessageRef | None = None,
    ) -> None:
        await self.outbox.send_file(
            chat_id,
            self.ics(meeting, language),
            reply_to=reply_to,
            purpose="meeting_ics",
            person_id=person_id,
            topic=topic,
        )

    async def announce(
        self, meeting: Meeting, *, if_missed: Callable[[Place], FollowUp | None] | None = None
    ) -> list[Place]:
        """The announcement with RSVP buttons, then the ``.ics``, in every audience chat.

        ``if_missed`` gives, for a place, what to say should Telegram refuse the announcement
        there. The host of a booked consultation hears who booked it, with no buttons.
        Returns the places announced in.
        """
        counts = await meetings.counts(self.session, meeting.id)
        host = await self.host_name(meeting)
        call = await meetings.call_about(self.session, meeting)
        places = await self.places(meeting)
        for place in places:
            with locale(self.i18n, place.language):
                text, markup = self._announcement(meeting, place, call, counts, host)
            topic = await self._topic(meeting, place)
            sent = await self.outbox.send(
                place.chat_id, text, markup=markup, purpose="meeting",
                person_id=place.person_id, record="announcement",
                otherwise=if_missed(place) if if_missed is not None else None, topic=topic,
            )  # fmt: skip
            place.audience.announcement_outbox_id = sent.outbox_id
            await self.send_ics(
                meeting, place.chat_id, place.language, reply_to=sent,
                person_id=place.person_id, topic=topic,
            )  # fmt: skip
        await self.session.flush()
        return places

    async def refresh_buttons(self, meeting: Meeting) -> None:
        """Put the current RSVP counts on every announcement."""
        counts = await meetings.counts(self.session, meeting.id)
        for place in await self.places(meeting):
            target = announcement(place.audience)
            if target is None or meetings.hosts_here(meeting, place):
                continue
            with locale(self.i18n, place.language):
                markup = rsvp_keyboard(meeting, counts)
            await self.outbox.edit_markup(place.chat_id, target, markup, purpose="meeting_rsvp")

    async def announce_cancelled(self, meeting: Meeting, by: str | None) -> int:
        """Tell the audience chats and those who said yes; take the buttons off. How many.
        The host of a booked consultation hears which request it was and who cancelled it
        (``by``; None: a participant asked to erase their data)."""
        told = 0
        call = await meetings.call_about(self.session, meeting)
        places = await self.places(meeting)
        for place in places:
            with locale(self.i18n, place.language):
                if call is not None and meetings.hosts_here(meeting, place):
                    text = host_cancelled_text(meeting, call, by, place.zone, place.language)
                else:
                    text = cancelled_text(meeting, place.zone, place.language)
                struck = cancelled_announcement(meeting, place.zone, place.language)
            await self._send(meeting, place, text, purpose="meeting_cancelled")
            told += 1
            await self._edit(place, struck, None)
        told += await self._tell_coming(meeting, places, cancelled_text, "meeting_cancelled")
        return told

    async def announce_moved(self, meeting: Meeting, previous: datetime, by: Person) -> int:
        """Tell the audience and those who said yes, with a new ``.ics``; update announcements.
        The host of a booked consultation hears which request it was and who moved it."""
        counts = await meetings.counts(self.session, meeting.id)
        host = await self.host_name(meeting)
        call = await meetings.call_about(self.session, meeting)
        told = 0
        places = await self.places(meeting)
        for place in places:
            with locale(self.i18n, place.language):
                if call is not None and meetings.hosts_here(meeting, place):
                    text = host_moved_text(
                        meeting, call, previous, by.display_name, place.zone, place.language
                    )
                else:
                    text = moved_text(meeting, previous, counts, place.zone, place.language)
                updated, markup = self._announcement(meeting, place, call, counts, host)
            await self._send(meeting, place, text, purpose="meeting_moved")
            told += 1
            await self.send_ics(
                meeting, place.chat_id, place.language,
                reply_to=announcement(place.audience), person_id=place.person_id,
                topic=await self._topic(meeting, place),
            )  # fmt: skip
            await self._edit(place, updated, markup)

        def render(meeting: Meeting, zone_name: str, language: str) -> str:
            return moved_text(meeting, previous, counts, zone_name, language)

        told += await self._tell_coming(meeting, places, render, "meeting_moved")
        return told

    async def remind(self, meeting: Meeting) -> int:
        """The reminder, to the audience chats and privately to those who said yes."""
        recipients = await meetings.recipients(
            self.session, meeting, self.settings.default_timezone, self.settings.default_language
        )
        for recipient in recipients:
            with locale(self.i18n, recipient.language):
                text = reminder_text(meeting, recipient.zone, recipient.language, self.now)
            await self.outbox.send(
                recipient.chat_id, text, purpose="meeting_reminder", person_id=recipient.person_id
            )
        return len(recipients)

    # --- helpers -------------------------------------------------------------------------------

    @staticmethod
    def _announcement(
        meeting: Meeting,
        place: Place,
        call: CallAbout | None,
        counts: meetings.RsvpCounts,
        host: str | None,
    ) -> tuple[str, InlineKeyboardMarkup | None]:
        """The announcement in one place and its buttons, in the language already active."""
        if call is not None and meetings.hosts_here(meeting, place):
            return host_booked_text(meeting, call, place.zone, place.language), None
        text = announcement_text(meeting, place.zone, place.language, host=host)
        return text, rsvp_keyboard(meeting, counts)

    async def _send(self, meeting: Meeting, place: Place, text: str, *, purpose: str) -> None:
        await self.outbox.send(
            place.chat_id, text, reply_to=announcement(place.audience), purpose=purpose,
            person_id=place.person_id, topic=await self._topic(meeting, place),
        )  # fmt: skip

    async def _topic(self, meeting: Meeting, place: Place) -> MessageRef | None:
        """A consultation booked on a request goes, in its mentor's chat, into the request's
        topic when it has one (where the bot has topics in private chats)."""
        if meeting.ticket_id is None or place.person_id is None:
            return None
        if not self.settings.private_topics:
            return None
        found = await ticket_topic(self.session, meeting.ticket_id, place.person_id)
        return None if found is None else MessageRef.of(found.thread_id, found.outbox_id)

    async def _edit(self, place: Place, text: str, markup: InlineKeyboardMarkup | None) -> None:
        target = announcement(place.audience)
        if target is not None:
            await self.outbox.edit(
                place.chat_id, target, text, markup=markup, purpose="meeting_announcement"
            )

    async def _tell_coming(
        self, meeting: Meeting, places: list[Place], render: Render, purpose: str
    ) -> int:
        """Privately tell those who said yes, unless the message already went to their chat."""
        reached = {place.chat_id for place in places}
        told = 0
        for person in await meetings.coming_people(self.session, meeting.id):
            if person.telegram_id in reached:
                continue
            zone_name = person.timezone or self.settings.default_timezone
            with self.speaking(person) as language:
                text = render(meeting, zone_name, language)
            await self.outbox.send(person.telegram_id, text, purpose=purpose, person_id=person.id)
            told += 1
        return told


def heading(meeting: Meeting) -> str:
    """``#7 «Title»`` for confirmations to the person who made a change."""
    return f"#{meeting.id} " + title_of(meeting)
