"""What the bot tells people about tickets on its own: cards, relays, rating prompts, alerts.

Each message is rendered in its recipient's language and sent through ``Delivery``, so a
person the bot cannot reach is recorded and never breaks the handler that triggered it.
Messages that people may reply to are linked to their ticket (``TicketMessage``).
"""

from __future__ import annotations

import html
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.types import InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.delivery import Attachment, Delivery
from bot.domain import matching
from bot.domain.people import language_of
from bot.domain.tickets import FileRef, link_message, messages_of
from bot.i18n import locale
from bot.views.tickets import (
    card_text,
    claim_keyboard,
    claimed_card_text,
    heading,
    name,
    number,
    quote,
    rating_keyboard,
    resolve_keyboard,
    taken_card_text,
    withdrawn_card_text,
)
from models import (
    GroupChat,
    Person,
    Ticket,
    TicketAttachment,
    TicketMessage,
    TicketMessageKind,
    Topic,
)

log = logging.getLogger(__name__)

# Telegram allows 1024 characters in a caption.
CAPTION_LIMIT = 1024

Render = Callable[[str], str]  # language -> text, called with that language active


class TicketNotices:
    """Sends ticket messages for one transaction (the handler's or the SLA job's)."""

    def __init__(
        self,
        session: AsyncSession,
        delivery: Delivery,
        i18n: I18n,
        settings: Settings,
        now: datetime,
        checkpoint: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.session = session
        self.delivery = delivery
        self.i18n = i18n
        self.settings = settings
        self.now = now
        self._checkpoint = checkpoint

    async def make_durable(self) -> None:
        """Commit what is done so far before anyone is told about it (see DbSessionMiddleware)."""
        if self._checkpoint is not None:
            await self._checkpoint()

    # --- helpers -------------------------------------------------------------------------

    def language(self, person: Person | None) -> str:
        return language_of(person, self.settings.default_language)

    @contextmanager
    def speaking(self, person: Person | None) -> Iterator[str]:
        language = self.language(person)
        with locale(self.i18n, language):
            yield language

    async def person(self, person_id: int | None) -> Person | None:
        return await self.session.get(Person, person_id) if person_id is not None else None

    async def topic(self, ticket: Ticket) -> Topic | None:
        return await self.session.get(Topic, ticket.topic_id) if ticket.topic_id else None

    async def place(self, ticket: Ticket) -> str:
        """Where the request was filed, as a mentor should read it (in the current language)."""
        group = await self.session.get(GroupChat, ticket.group_id) if ticket.group_id else None
        return group.title if group is not None else _("in private")

    async def edit(
        self,
        chat_id: int,
        message_id: int,
        text: str,
        markup: InlineKeyboardMarkup | None = None,
    ) -> None:
        """Edit a message the bot sent earlier; one deleted or unchanged is not an error."""
        try:
            await self.delivery.bot.edit_message_text(
                text=text, chat_id=chat_id, message_id=message_id, reply_markup=markup
            )
        except (TelegramBadRequest, TelegramForbiddenError) as error:
            log.info("could not edit message %s in %s: %s", message_id, chat_id, error.message)

    async def send_files(
        self,
        ticket: Ticket,
        files: Sequence[FileRef | TicketAttachment],
        chat_id: int,
        *,
        caption: str,
        reply_to: int | None,
        kind: TicketMessageKind,
        person_id: int | None,
    ) -> list[Message]:
        sent: list[Message] = []
        for file in files:
            if file.kind == "photo":
                message = await self.delivery.send_photo(
                    self.session,
                    chat_id,
                    file.file_id,
                    purpose="ticket_file",
                    caption=caption,
                    reply_to=reply_to,
                    person_id=person_id,
                )
            else:
                message = await self.delivery.send_document(
                    self.session,
                    chat_id,
                    Attachment(filename=file.file_name or "file", file_id=file.file_id),
                    purpose="ticket_file",
                    caption=caption,
                    reply_to=reply_to,
                    person_id=person_id,
                )
            if message is not None:
                await link_message(
                    self.session, ticket, kind, chat_id, message.message_id, self.now,
                    person_id=person_id,
                )  # fmt: skip
                sent.append(message)
        return sent

    async def relay(
        self,
        ticket: Ticket,
        recipient: Person,
        chat_id: int,
        header: str,
        text: str,
        files: Sequence[FileRef],
        *,
        kind: TicketMessageKind,
        reply_to: int | None,
    ) -> bool:
        """Pass a conversation message on: the text with a header, then each file."""
        delivered = False
        if text or not files:
            body = header + "\n" + quote(text)
            message = await self.delivery.send_text(
                self.session,
                chat_id,
                body,
                purpose="ticket_relay",
                reply_to=reply_to,
                person_id=recipient.id,
            )
            if message is not None:
                delivered = True
                await link_message(
                    self.session, ticket, kind, chat_id, message.message_id, self.now,
                    person_id=recipient.id,
                )  # fmt: skip
        sent = await self.send_files(
            ticket,
            files,
            chat_id,
            caption=header[:CAPTION_LIMIT],
            reply_to=reply_to,
            kind=kind,
            person_id=recipient.id,
        )
        return delivered or bool(sent)

    async def alert_coordinators(self, programme_id: int, render: Render) -> int:
        """Tell the programme's coordinators (or, if it has none, the admins); how many heard."""
        recipients = await matching.coordinators_of(self.session, programme_id)
        if not recipients and self.settings.admin_ids:
            result = await self.session.execute(
                select(Person).where(Person.telegram_id.in_(self.settings.admin_ids))
            )
            recipients = list(result.scalars())
        heard = 0
        for person in recipients:
            with self.speaking(person) as language:
                text = render(language)
            sent = await self.delivery.send_text(
                self.session, person.telegram_id, text, purpose="ticket_alert", person_id=person.id
            )
            heard += sent is not None
        return heard

    # --- matching ------------------------------------------------------------------------

    async def route(self, ticket: Ticket) -> int:
        """Send the ticket's card to every candidate; returns how many cards arrived."""
        candidates = await matching.candidates_for(
            self.session, ticket, capacity=self.settings.mentor_capacity
        )
        author = await self.person(ticket.author_id)
        topic = await self.topic(ticket)
        arrived = 0
        for candidate in candidates:
            mentor = candidate.person
            with self.speaking(mentor) as language:
                text = card_text(
                    ticket, topic, author or mentor, await self.place(ticket), language
                )
                markup = claim_keyboard(ticket)
            message = await self.delivery.send_text(
                self.session,
                mentor.telegram_id,
                text,
                purpose="ticket_card",
                reply_markup=markup,
                person_id=mentor.id,
            )
            if message is None:
                await self.report_unreachable(mentor, ticket.programme_id)
                continue
            arrived += 1
            await matching.note_reachable(self.session, mentor.id)
            await link_message(
                self.session, ticket, TicketMessageKind.card, mentor.telegram_id,
                message.message_id, self.now, person_id=mentor.id,
            )  # fmt: skip
        if not arrived:
            await self.alert_coordinators(
                ticket.programme_id,
                lambda language: _(
                    "No mentor could get request {heading}: nobody of this topic is free or "
                    "reachable. Assign it by hand: /assign {n}"
                ).format(heading=heading(ticket, topic, language), n=ticket.id),
            )
        return arrived

    async def report_unreachable(self, mentor: Person, programme_id: int) -> None:
        if not await matching.note_unreachable(self.session, mentor.id, programme_id, self.now):
            return
        me = await self.delivery.bot.me()
        await self.alert_coordinators(
            programme_id,
            lambda _language: _(
                "I cannot write to mentor {mentor}: they have not started the bot or blocked "
                "it, so request cards do not reach them. Ask them to open @{bot} and press "
                "Start."
            ).format(mentor=name(mentor), bot=html.escape(me.username or "")),
        )

    async def withdraw_cards(
        self,
        ticket: Ticket,
        *,
        keep: tuple[int, int] | None = None,
        taken_by: Person | None = None,
    ) -> None:
        """Edit the cards other mentors got: taken by someone, or no longer waiting."""
        topic = await self.topic(ticket)
        for card in await messages_of(self.session, ticket.id, TicketMessageKind.card):
            if keep == (card.chat_telegram_id, card.message_id) or card.person_id == (
                taken_by.id if taken_by else None
            ):
                continue
            with self.speaking(await self.person(card.person_id)) as language:
                if taken_by is not None:
                    text = taken_card_text(ticket, topic, taken_by, language)
                else:
                    text = withdrawn_card_text(ticket, topic, language)
            await self.edit(card.chat_telegram_id, card.message_id, text)

    async def claimed_card(
        self, ticket: Ticket, mentor: Person
    ) -> tuple[str, InlineKeyboardMarkup]:
        author = await self.person(ticket.author_id)
        topic = await self.topic(ticket)
        with self.speaking(mentor) as language:
            text = claimed_card_text(
                ticket, topic, author or mentor, await self.place(ticket), language
            )
            return text, resolve_keyboard(ticket)

    async def send_claimed_card(self, ticket: Ticket, mentor: Person) -> Message | None:
        """A fresh card for the assignee (after /queue or a reassignment), with the files."""
        text, markup = await self.claimed_card(ticket, mentor)
        message = await self.delivery.send_text(
            self.session,
            mentor.telegram_id,
            text,
            purpose="ticket_card",
            reply_markup=markup,
            person_id=mentor.id,
        )
        if message is None:
            await self.report_unreachable(mentor, ticket.programme_id)
            return None
        await link_message(
            self.session, ticket, TicketMessageKind.card, mentor.telegram_id,
            message.message_id, self.now, person_id=mentor.id,
        )  # fmt: skip
        await self.send_request_files(ticket, mentor, reply_to=message.message_id)
        return message

    async def send_request_files(self, ticket: Ticket, mentor: Person, *, reply_to: int) -> None:
        if not ticket.attachments:
            return
        await self.send_files(
            ticket,
            ticket.attachments,
            mentor.telegram_id,
            caption=number(ticket),
            reply_to=reply_to,
            kind=TicketMessageKind.card,
            person_id=mentor.id,
        )

    # --- the conversation ----------------------------------------------------------------

    async def tell_author(self, ticket: Ticket, render: Render) -> Message | None:
        """A message in the request's thread (the group, or the author's private chat)."""
        author = await self.person(ticket.author_id)
        with self.speaking(author) as language:
            text = render(language)
        message = await self.delivery.send_text(
            self.session,
            ticket.chat_telegram_id,
            text,
            purpose="ticket_news",
            reply_to=ticket.request_message_id,
            person_id=author.id if author else None,
        )
        if message is not None:
            await link_message(
                self.session, ticket, TicketMessageKind.answer, ticket.chat_telegram_id,
                message.message_id, self.now, person_id=ticket.author_id,
            )  # fmt: skip
        return message

    async def relay_answer(
        self, ticket: Ticket, mentor: Person, text: str, files: Sequence[FileRef]
    ) -> bool:
        """The assignee's message, posted as a reply to the request."""
        author = await self.person(ticket.author_id)
        if author is None:
            return False
        with self.speaking(author):
            header = _("💬 {mentor}, mentor, on {number}:").format(
                mentor=name(mentor), number=f"<b>{number(ticket)}</b>"
            )
        return await self.relay(
            ticket,
            author,
            ticket.chat_telegram_id,
            header,
            text,
            files,
            kind=TicketMessageKind.answer,
            reply_to=ticket.request_message_id,
        )

    async def assignee_card(self, ticket: Ticket) -> TicketMessage | None:
        cards = await messages_of(self.session, ticket.id, TicketMessageKind.card)
        mine = [card for card in cards if card.person_id == ticket.assignee_id]
        return mine[0] if mine else None

    async def restore_card(self, ticket: Ticket) -> None:
        """A reopened ticket: the assignee's card gets its «Resolve» button back."""
        card = await self.assignee_card(ticket)
        mentor = await self.person(ticket.assignee_id)
        if card is None or mentor is None:
            return
        text, markup = await self.claimed_card(ticket, mentor)
        await self.edit(card.chat_telegram_id, card.message_id, text, markup)

    async def relay_question(
        self,
        ticket: Ticket,
        author: Person,
        text: str,
        files: Sequence[FileRef],
        *,
        reopened: bool,
    ) -> bool:
        """The author's message, sent to the assignee as a reply to their card."""
        mentor = await self.person(ticket.assignee_id)
        if mentor is None:
            return False
        card = await self.assignee_card(ticket)
        with self.speaking(mentor):
            template = (
                _("🔄 {author} reopened {number}:")
                if reopened
                else _("💬 {author}, author, on {number}:")
            )
            header = template.format(author=name(author), number=f"<b>{number(ticket)}</b>")
        return await self.relay(
            ticket,
            mentor,
            mentor.telegram_id,
            header,
            text,
            files,
            kind=TicketMessageKind.question,
            reply_to=card.message_id if card is not None else None,
        )

    async def ask_rating(self, ticket: Ticket, mentor: Person) -> None:
        author = await self.person(ticket.author_id)
        with self.speaking(author):
            text = _(
                "{mentor} marked request {number} as resolved. How helpful was the answer? "
                "Reply to this message to add a comment. If the question is not solved yet, "
                "reply to the mentor's answer and the request reopens."
            ).format(mentor=name(mentor), number=f"<b>{number(ticket)}</b>")
            markup = rating_keyboard(ticket)
        message = await self.delivery.send_text(
            self.session,
            ticket.chat_telegram_id,
            text,
            purpose="ticket_rating",
            reply_markup=markup,
            reply_to=ticket.request_message_id,
            person_id=ticket.author_id,
        )
        if message is not None:
            await link_message(
                self.session, ticket, TicketMessageKind.rating, ticket.chat_telegram_id,
                message.message_id, self.now, person_id=ticket.author_id,
            )  # fmt: skip

    async def tell_person(self, person: Person | None, render: Render) -> Message | None:
        if person is None:
            return None
        with self.speaking(person) as language:
            text = render(language)
        return await self.delivery.send_text(
            self.session, person.telegram_id, text, purpose="ticket_news", person_id=person.id
        )
