"""Who hears what about a ticket: cards and summaries for mentors, news for the author, relays
of the conversation, alerts for coordinators.

Each message is rendered by ``bot.views.tickets`` in its recipient's language and written to
the caller's outbox, in the caller's transaction: nothing here talks to Telegram or commits.
Messages people may reply to are bound to the ticket (``TicketMessage``) by their outbox row;
their Telegram ids are filled in when they are sent.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from sqlalchemy import select

from bot.delivery.outbox import Document, FollowUp, MessageRef, Outgoing
from bot.domain import matching, summaries, triage
from bot.domain.matching import Mentor
from bot.domain.people import Speaker
from bot.domain.tickets import (
    FileRef,
    Link,
    general_role,
    history,
    link_message,
    link_messages,
    messages_of,
    note_ticket_topic,
    people_by_id,
    ticket_topic,
    unrated_since,
)
from bot.news import News
from bot.views.booking import book_button
from bot.views.tickets import (
    Handover,
    card_text,
    claim_keyboard,
    claimed_card_text,
    erased_card_text,
    escalated_card_text,
    event_text,
    heading,
    name,
    number,
    quote,
    rating_keyboard,
    resolve_keyboard,
    summary_keyboard,
    summary_text,
    taken_card_text,
    topic_name,
    withdrawn_card_text,
)
from models import (
    GroupChat,
    Person,
    Programme,
    SummaryCard,
    Ticket,
    TicketAttachment,
    TicketEventKind,
    TicketMessage,
    TicketMessageKind,
    Topic,
)

# What a specialist reads of the conversation a general consultant had before passing it on.
CONVERSATION = (TicketEventKind.mentor_message, TicketEventKind.author_message)

Render = Callable[[str], str]  # language -> text, called with that language active


def ref(link: TicketMessage | SummaryCard) -> MessageRef:
    """The message a link stands for: its Telegram id, or the outbox row still sending it."""
    return MessageRef(message_id=link.message_id, outbox_id=link.outbox_id)


class TicketNews(News):
    """The messages about tickets of one transaction (a handler's or a job's)."""

    # --- helpers -------------------------------------------------------------------------------

    async def topic(self, ticket: Ticket) -> Topic | None:
        return await self.get(Topic, ticket.topic_id)

    async def quiet(self, ticket: Ticket) -> bool:
        """Whether news of the request goes to its author alone: it came from a group whose
        programme keeps its groups quiet."""
        if ticket.group_id is None:
            return False
        programme = await self.get(Programme, ticket.programme_id)
        return programme is not None and programme.quiet_groups

    async def show_state(self, ticket: Ticket, emoji: str) -> None:
        """In a quiet group, the request's state for everyone: the bot's reaction on it, one
        of Telegram's reaction emoji (👀 received, ✍ taken, 👌 resolved)."""
        if await self.quiet(ticket):
            await self.outbox.react(ticket.chat_telegram_id, ticket.request_message_id, emoji)

    async def place(self, ticket: Ticket) -> str:
        """Where the request was filed, as a mentor should read it (in the current language)."""
        group = await self.get(GroupChat, ticket.group_id)
        return group.title if group is not None else _("in private")

    async def _bind(
        self,
        ticket: Ticket,
        kind: TicketMessageKind,
        chat_id: int,
        sent: MessageRef,
        person_id: int | None,
    ) -> None:
        await link_message(
            self.session, ticket, kind, chat_id, self.now,
            message_id=sent.message_id, outbox_id=sent.outbox_id, person_id=person_id,
        )  # fmt: skip

    async def _send_all_bound(
        self, ticket: Ticket, messages: Sequence[tuple[TicketMessageKind, Outgoing]]
    ) -> None:
        """Messages bound to the ticket, each as the kind given, in this order: two statements
        for them all."""
        if not messages:
            return
        sent = await self.outbox.send_many(
            [replace(message, record="ticket_message") for _kind, message in messages]
        )
        links = [
            Link(kind, message.chat_id, ref.message_id, ref.outbox_id, message.person_id)
            for (kind, message), ref in zip(messages, sent, strict=True)
        ]
        await link_messages(self.session, ticket, links, self.now)

    async def _send_bound(
        self,
        ticket: Ticket,
        kind: TicketMessageKind,
        chat_id: int,
        text: str,
        *,
        purpose: str,
        person_id: int | None,
        markup: InlineKeyboardMarkup | None = None,
        reply_to: int | MessageRef | None = None,
        then: FollowUp | None = None,
        otherwise: FollowUp | None = None,
        only_for: int | None = None,
        topic: MessageRef | None = None,
    ) -> MessageRef:
        sent = await self.outbox.send(
            chat_id, text, markup=markup, reply_to=reply_to, purpose=purpose,
            person_id=person_id, record="ticket_message", then=then, otherwise=otherwise,
            only_for=only_for,
            topic=topic,
        )  # fmt: skip
        await self._bind(ticket, kind, chat_id, sent, person_id)
        return sent

    async def send_files(
        self,
        ticket: Ticket,
        files: Sequence[FileRef | TicketAttachment],
        chat_id: int,
        *,
        caption: str,
        reply_to: int | MessageRef | None,
        kind: TicketMessageKind,
        person_id: int | None,
        then: FollowUp | None = None,
        otherwise: FollowUp | None = None,
        topic: MessageRef | None = None,
    ) -> None:
        """Each file as a message of its own; follow-ups wait for the first."""
        for file in files:
            document = Document(filename=file.file_name or "file", file_id=file.file_id)
            sent = await self.outbox.send_file(
                chat_id, document, photo=file.kind == "photo", caption=caption,
                reply_to=reply_to, purpose="ticket_file", person_id=person_id,
                record="ticket_message", then=then, otherwise=otherwise, topic=topic,
            )  # fmt: skip
            then = otherwise = None
            await self._bind(ticket, kind, chat_id, sent, person_id)

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
        reply_to: int | MessageRef | None,
        then: FollowUp | None = None,
        otherwise: FollowUp | None = None,
        topic: MessageRef | None = None,
    ) -> None:
        """Pass a conversation message on: the text with a header, then each file. The
        follow-ups (telling the writer how it went) wait for the first of them."""
        if text or not files:
            await self._send_bound(
                ticket, kind, chat_id, header + "\n" + quote(text), purpose="ticket_relay",
                person_id=recipient.id, reply_to=reply_to, then=then, otherwise=otherwise,
                topic=topic,
            )  # fmt: skip
            then = otherwise = None
        await self.send_files(
            ticket, files, chat_id, caption=header, reply_to=reply_to, kind=kind,
            person_id=recipient.id, then=then, otherwise=otherwise, topic=topic,
        )  # fmt: skip

    async def coordinators(self, programme_id: int) -> list[Person]:
        """The programme's coordinators, or the admins if it has none."""
        recipients = await matching.coordinators_of(self.session, programme_id)
        if not recipients and self.settings.admin_ids:
            result = await self.session.execute(
                select(Person).where(Person.telegram_id.in_(self.settings.admin_ids))
            )
            recipients = list(result.scalars())
        return recipients

    async def alert_coordinators(
        self, programme_id: int, render: Render, *, about: Ticket | None = None
    ) -> int:
        """Tell the programme's coordinators (or the admins); how many were written to. An
        alert ``about`` a ticket is bound to it, to be edited once its cause has passed
        (``settle_alerts``)."""
        recipients = await self.coordinators(programme_id)
        for person in recipients:
            with self.speaking(person) as language:
                text = render(language)
            if about is None:
                await self.outbox.send(
                    person.telegram_id, text, purpose="ticket_alert", person_id=person.id
                )
            else:
                await self._send_bound(
                    about, TicketMessageKind.alert, person.telegram_id, text,
                    purpose="ticket_alert", person_id=person.id,
                )  # fmt: skip
        return len(recipients)

    async def settle_alerts(self, ticket: Ticket, taken_by: Person | None) -> None:
        """The coordinators' alerts that nobody could get the request, edited: someone took
        it, or it changed (its topic, or it was cancelled) and no longer waits as it did."""
        for alert in await messages_of(self.session, ticket.id, TicketMessageKind.alert):
            with self.speaking(await self.person(alert.person_id)):
                if taken_by is not None:
                    text = _("✓ Request {number} is now with {mentor}: nothing left to do.")
                else:
                    text = _("✓ Request {number} has changed: this alert no longer applies.")
                text = text.format(number=number(ticket), mentor=name(taken_by) if taken_by else "")
            await self.outbox.edit(alert.chat_telegram_id, ref(alert), text)
            await self.session.delete(alert)

    async def tell_person(
        self, person: Person | None, render: Render, *, about: Ticket | None = None
    ) -> None:
        """A message to the person in private: in the topic of ticket ``about`` when the person
        has one for it."""
        if person is None:
            return
        with self.speaking(person) as language:
            text = render(language)
        topic = await self.mentor_topic(about, person) if about is not None else None
        await self.outbox.send(
            person.telegram_id, text, purpose="ticket_news", person_id=person.id, topic=topic
        )

    # --- the ticket's topic in its mentor's chat -----------------------------------------------

    async def mentor_topic(self, ticket: Ticket, mentor: Person) -> MessageRef | None:
        """The topic of the mentor's chat that holds the ticket, if one was opened (the thread
        id once Telegram has opened it, else the outbox row opening it)."""
        if not self.settings.private_topics:
            return None
        found = await ticket_topic(self.session, ticket.id, mentor.id)
        if found is None:
            return None
        return MessageRef.of(found.thread_id, found.outbox_id)

    async def open_mentor_topic(self, ticket: Ticket, mentor: Person) -> MessageRef | None:
        """The ticket's topic in the mentor's chat: the one opened before, else a new one named
        «#12 · topic · author». None where the bot has no topics in private chats."""
        if not self.settings.private_topics:
            return None
        found = await self.mentor_topic(ticket, mentor)
        if found is not None:
            return found
        author = await self.person(ticket.author_id)
        with self.speaking(mentor) as language:
            title = topic_name(ticket, await self.topic(ticket), author, language)
        opening = await self.outbox.open_topic(
            mentor.telegram_id, title, person_id=mentor.id, record="ticket_topic"
        )
        await note_ticket_topic(self.session, ticket, mentor, opening.outbox_id, self.now)
        return opening

    async def handover(self, ticket: Ticket) -> Handover | None:
        """For a request a general consultant passed on: who, their note, the conversation so
        far, rendered in the current language. None for any other request."""
        if ticket.escalated_at is None:
            return None
        events = await history(self.session, ticket.id)
        passed = [e for e in events if e.kind == TicketEventKind.escalated]
        if not passed:
            return None
        said = [e for e in events if e.kind in CONVERSATION]
        people = await people_by_id(self.session, [e.actor_id for e in events])
        return Handover(
            by=people.get(passed[-1].actor_id or 0),
            note=passed[-1].text,
            conversation=[event_text(e, people, {}, "") for e in said],
        )

    # --- offering a ticket to mentors ----------------------------------------------------------

    async def offer_new(
        self,
        ticket: Ticket,
        topic: Topic | None,
        *,
        answer: Callable[[int], Outgoing] | None = None,
    ) -> int:
        """Offer a request just filed: to the general consultants when it is in triage, else
        to the mentors of its topic once it has one. A programme with triage on but no general
        consultant sends requests straight to specialists, and its coordinators hear why (once,
        when that begins). ``answer``, given how many mentors it went to, is the message that
        acknowledges the request: written with the cards, and bound to the ticket as its
        acknowledgement."""
        if not ticket.triage:
            programme = await self.get(Programme, ticket.programme_id)
            if (
                programme is not None
                and programme.triage
                and await triage.fallback_begins(self.session, ticket)
            ):
                await self.alert_coordinators(
                    ticket.programme_id,
                    lambda _language: _(
                        "Triage is on in «{programme}», but it has no general consultant, so "
                        "request {number} went straight to the mentors of its topic. Invite "
                        "one: /invite general"
                    ).format(programme=html.escape(programme.title), number=number(ticket)),
                )
        cards: list[tuple[TicketMessageKind, Outgoing]] = []
        offered = 0
        if ticket.in_triage or topic is not None:
            offered = await self._offer(ticket, cards)
        if answer is not None:
            cards.append((TicketMessageKind.ack, answer(offered)))
        await self._send_all_bound(ticket, cards)
        return offered

    async def offer(self, ticket: Ticket) -> int:
        """Put the ticket before every candidate mentor: a card each, or a line on their summary
        card when their chat is busy. Returns how many mentors it was offered to."""
        cards: list[tuple[TicketMessageKind, Outgoing]] = []
        offered = await self._offer(ticket, cards)
        await self._send_all_bound(ticket, cards)
        return offered

    async def _offer(self, ticket: Ticket, cards: list[tuple[TicketMessageKind, Outgoing]]) -> int:
        """What ``offer`` does, with the cards added to ``cards`` for the caller to write
        (summaries are written here)."""
        offers = await matching.offers_for(
            self.session, ticket, capacity=self.settings.mentor_capacity,
            per_second=self.settings.rate_private_per_second,
        )  # fmt: skip
        if not offers:
            await self.alert_nobody_has(ticket)
            return 0
        for offer in offers:
            if offer.on_summary:
                await self.list_on_summary(ticket, offer.mentor)
            else:
                cards.append((TicketMessageKind.card, await self.card(ticket, offer.mentor)))
        return len(offers)

    async def alert_nobody_has(self, ticket: Ticket) -> None:
        """No mentor could get the request: coordinators are asked to assign it by hand."""
        topic = await self.topic(ticket)
        if ticket.in_triage:
            await self.alert_coordinators(
                ticket.programme_id,
                lambda language: _(
                    "No general consultant could get request {heading}: none is free or "
                    "reachable. Assign it by hand: /assign {n}"
                ).format(heading=heading(ticket, topic, language), n=ticket.id),
                about=ticket,
            )
            return
        await self.alert_coordinators(
            ticket.programme_id,
            lambda language: _(
                "No mentor could get request {heading}: nobody of this topic is free or "
                "reachable. Assign it by hand: /assign {n}"
            ).format(heading=heading(ticket, topic, language), n=ticket.id),
            about=ticket,
        )

    async def card(self, ticket: Ticket, mentor: Mentor) -> Outgoing:
        """The new-request card for a mentor, in their language, with its claim button."""
        author = await self.person(ticket.author_id)
        topic = await self.topic(ticket)
        with self.speaking(mentor) as language:
            text = card_text(
                ticket, topic, author, await self.place(ticket), language,
                await self.handover(ticket),
            )  # fmt: skip
            markup = claim_keyboard(ticket)
        return Outgoing(
            mentor.telegram_id, text, markup=markup, purpose="ticket_card", person_id=mentor.id
        )

    async def list_on_summary(self, ticket: Ticket, mentor: Mentor) -> None:
        await summaries.hold_for(self.session, mentor.id)
        card = await summaries.current(self.session, mentor.id, self.now)
        fresh = card is None
        if card is None:
            card = await summaries.start(self.session, mentor.id, mentor.telegram_id, self.now)
        listed = await summaries.add(self.session, card, ticket, self.now)
        text, markup = await self._summary(card, mentor, listed)
        if fresh:
            sent = await self.outbox.send(
                card.chat_telegram_id, text, markup=markup, purpose="ticket_card",
                person_id=mentor.id, record="summary_card",
            )  # fmt: skip
            card.outbox_id = sent.outbox_id
        else:
            await self.outbox.edit(card.chat_telegram_id, ref(card), text, markup=markup)

    async def _summary(
        self, card: SummaryCard, mentor: Speaker, listed: list[Ticket] | None = None
    ) -> tuple[str, InlineKeyboardMarkup | None]:
        """The card's text and buttons for the mentor, from the requests it lists (read when
        not given)."""
        if listed is None:
            listed = await summaries.tickets_on(self.session, card)
        topics: dict[int, Topic] = {}
        for topic_id in {t.topic_id for t in listed if t.topic_id is not None}:
            topic = await self.get(Topic, topic_id)  # the request's topics are held already
            if topic is not None:
                topics[topic_id] = topic
        assignees = await people_by_id(self.session, [t.assignee_id for t in listed])
        with self.speaking(mentor) as language:
            return (
                summary_text(listed, topics, assignees, mentor.id, language),
                summary_keyboard(listed),
            )

    async def refresh_summaries(self, ticket: Ticket) -> None:
        """Every summary card listing the ticket shows what became of it."""
        for card in await summaries.cards_listing(self.session, ticket.id):
            await summaries.hold_for(self.session, card.person_id)
            mentor = await self.person(card.person_id)
            if mentor is None:
                continue
            text, markup = await self._summary(card, mentor)
            await self.outbox.edit(card.chat_telegram_id, ref(card), text, markup=markup)

    async def withdraw_cards(self, ticket: Ticket, *, taken_by: Person | None = None) -> None:
        """Other mentors' cards say who took the ticket, or that it no longer waits; a card
        not sent yet is not sent at all. Summary cards listing it show what became of it."""
        topic = await self.topic(ticket)
        for card in await messages_of(self.session, ticket.id, TicketMessageKind.card):
            if taken_by is not None and card.person_id == taken_by.id:
                continue
            with self.speaking(await self.person(card.person_id)) as language:
                if taken_by is not None:
                    text = taken_card_text(ticket, topic, taken_by, language)
                else:
                    text = withdrawn_card_text(ticket, topic, language)
            await self.outbox.edit(card.chat_telegram_id, ref(card), text, withdraw_unsent=True)
        await self.refresh_summaries(ticket)
        await self.settle_alerts(ticket, taken_by)

    async def erased(self, ticket: Ticket) -> None:
        """The request's content was erased: the bot's messages that quoted it in mentors' chats
        (cards, the author's messages relayed) say so instead, or are not sent if still waiting;
        summary cards list it without its text; coordinators' alerts about it are settled.
        Telegram may refuse to edit an old message: the outbox takes that as final."""
        topic = await self.topic(ticket)
        for kind in (TicketMessageKind.card, TicketMessageKind.question):
            for message in await messages_of(self.session, ticket.id, kind):
                with self.speaking(await self.person(message.person_id)) as language:
                    text = erased_card_text(ticket, topic, language)
                await self.outbox.edit(
                    message.chat_telegram_id, ref(message), text, withdraw_unsent=True
                )
        await self.refresh_summaries(ticket)
        await self.settle_alerts(ticket, None)

    async def refresh_cards(self, ticket: Ticket) -> None:
        """Mentors who have not claimed the request yet see its edited text."""
        author = await self.person(ticket.author_id)
        topic = await self.topic(ticket)
        if author is None:
            return
        for card in await messages_of(self.session, ticket.id, TicketMessageKind.card):
            with self.speaking(await self.person(card.person_id)) as language:
                text = card_text(
                    ticket, topic, author, await self.place(ticket), language,
                    await self.handover(ticket),
                )  # fmt: skip
                markup = claim_keyboard(ticket)
            await self.outbox.edit(card.chat_telegram_id, ref(card), text, markup=markup)
        await self.refresh_summaries(ticket)

    # --- the assignee's card -------------------------------------------------------------------

    async def claimed_card(
        self, ticket: Ticket, mentor: Person
    ) -> tuple[str, InlineKeyboardMarkup]:
        author = await self.person(ticket.author_id)
        topic = await self.topic(ticket)
        # A general consultant holding a request in triage may pass it to a specialist.
        escalate = ticket.in_triage and general_role(mentor, ticket.programme_id) is not None
        with self.speaking(mentor) as language:
            text = claimed_card_text(
                ticket, topic, author or mentor, await self.place(ticket), language,
                await self.handover(ticket), escalate=escalate,
            )  # fmt: skip
            return text, resolve_keyboard(ticket, escalate=escalate)

    async def give_card(self, ticket: Ticket, mentor: Person, card: TicketMessage | None) -> None:
        """The assignee's card: ``card`` turned into it, or a fresh one; then the request's files
        as replies to it. Where the bot has topics in private chats, the card is a fresh one in
        the ticket's own topic, and ``card`` says where the request went."""
        text, markup = await self.claimed_card(ticket, mentor)
        topic = await self.open_mentor_topic(ticket, mentor)
        if topic is not None:
            if card is not None:
                with self.speaking(mentor) as language:
                    moved = _("{heading}\nYours now: the request goes on in its own topic.").format(
                        heading=heading(ticket, await self.topic(ticket), language)
                    )
                await self.outbox.edit(card.chat_telegram_id, ref(card), moved)
            card = None
        if card is not None:
            target = ref(card)
            await self.outbox.edit(card.chat_telegram_id, target, text, markup=markup)
        else:
            target = await self._send_bound(
                ticket, TicketMessageKind.card, mentor.telegram_id, text, purpose="ticket_card",
                person_id=mentor.id, markup=markup, topic=topic,
            )  # fmt: skip
        if ticket.attachments:
            await self.send_files(
                ticket, ticket.attachments, mentor.telegram_id, caption=number(ticket),
                reply_to=target, kind=TicketMessageKind.card, person_id=mentor.id, topic=topic,
            )  # fmt: skip

    async def assignee_card(self, ticket: Ticket) -> TicketMessage | None:
        cards = await messages_of(self.session, ticket.id, TicketMessageKind.card)
        mine = [card for card in cards if card.person_id == ticket.assignee_id]
        return mine[-1] if mine else None

    async def restore_card(self, ticket: Ticket) -> None:
        """A reopened ticket: the assignee's card gets its «Resolve» button back."""
        card = await self.assignee_card(ticket)
        mentor = await self.person(ticket.assignee_id)
        if card is None or mentor is None:
            return
        text, markup = await self.claimed_card(ticket, mentor)
        await self.outbox.edit(card.chat_telegram_id, ref(card), text, markup=markup)

    async def escalated(self, ticket: Ticket, consultant: Person) -> int:
        """After a general consultant passed the request on: their card says so, the topic's
        specialists get it (with the note and the conversation so far), and the author hears,
        in the request's thread, that a specialist will answer. Returns how many specialists
        it was offered to."""
        topic = await self.topic(ticket)
        for card in await messages_of(self.session, ticket.id, TicketMessageKind.card):
            if card.person_id != consultant.id:
                continue
            with self.speaking(consultant) as language:
                text = escalated_card_text(ticket, topic, language)
            await self.outbox.edit(card.chat_telegram_id, ref(card), text)
        offered = await self.offer(ticket)
        await self.tell_author(
            ticket,
            lambda language: _(
                "{consultant} passed your request {number} to a specialist ({topic}). The "
                "specialist will answer here; reply to the answers to continue."
            ).format(
                consultant=name(consultant),
                number=f"<b>{number(ticket)}</b>",
                topic=html.escape(topic.title(language)) if topic is not None else "—",
            ),
        )
        return offered

    # --- the conversation ----------------------------------------------------------------------

    async def tell_author(self, ticket: Ticket, render: Render, *, bookable: bool = False) -> None:
        """A message in the request's thread (the group, or the author's private chat); with
        ``bookable``, under a button to book a consultation."""
        author = await self.person(ticket.author_id)
        with self.speaking(author) as language:
            text = render(language)
            markup = book_button(ticket.id) if bookable else None
        quiet = author is not None and await self.quiet(ticket)
        await self._send_bound(
            ticket, TicketMessageKind.answer, ticket.chat_telegram_id, text,
            purpose="ticket_news", person_id=ticket.author_id, markup=markup,
            reply_to=ticket.request_message_id,
            only_for=author.telegram_id if quiet and author is not None else None,
        )  # fmt: skip

    async def relay_answer(
        self,
        ticket: Ticket,
        mentor: Person,
        text: str,
        files: Sequence[FileRef],
        *,
        then: FollowUp | None = None,
        otherwise: FollowUp | None = None,
    ) -> bool:
        """The assignee's message, posted as a reply to the request; False without an author."""
        author = await self.person(ticket.author_id)
        if author is None:
            return False
        with self.speaking(author):
            header = _("💬 {mentor}, mentor, on {number}:").format(
                mentor=name(mentor), number=f"<b>{number(ticket)}</b>"
            )
        await self.relay(
            ticket, author, ticket.chat_telegram_id, header, text, files,
            kind=TicketMessageKind.answer, reply_to=ticket.request_message_id,
            then=then, otherwise=otherwise,
        )  # fmt: skip
        return True

    async def relay_question(
        self,
        ticket: Ticket,
        author: Person,
        text: str,
        files: Sequence[FileRef],
        *,
        reopened: bool,
        otherwise: FollowUp | None = None,
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
        await self.relay(
            ticket, mentor, mentor.telegram_id, header, text, files,
            kind=TicketMessageKind.question, reply_to=ref(card) if card is not None else None,
            otherwise=otherwise, topic=await self.mentor_topic(ticket, mentor),
        )  # fmt: skip
        return True

    async def ask_rating(self, ticket: Ticket, mentor: Person, *, again: bool = False) -> None:
        """The author is asked to rate the answer: in the request's thread; from a quiet group,
        in the author's private chat with the bot when they have one (a comment is a reply
        there), else in the group for the author alone (a reply to that cannot be told).
        ``again``: asked once more in private, the group's ephemeral request having faded."""
        author = await self.person(ticket.author_id)
        chat_id, only_for = ticket.chat_telegram_id, None
        reply_to: int | None = ticket.request_message_id
        if author is not None and (again or await self.quiet(ticket)):
            if again or author.private_chat_open:
                chat_id, reply_to = author.telegram_id, None
            else:
                only_for = author.telegram_id
        with self.speaking(author):
            if only_for is None:
                template = _(
                    "{mentor} marked request {number} as resolved. How helpful was the answer? "
                    "Reply to this message to add a comment. If the question is not solved yet, "
                    "reply to the mentor's answer and the request reopens."
                )
            else:
                template = _(
                    "{mentor} marked request {number} as resolved. How helpful was the answer? "
                    "If the question is not solved yet, reply to the mentor's answer and the "
                    "request reopens."
                )
            text = template.format(mentor=name(mentor), number=f"<b>{number(ticket)}</b>")
            markup = rating_keyboard(ticket)
        await self._send_bound(
            ticket, TicketMessageKind.rating, chat_id, text, purpose="ticket_rating",
            person_id=ticket.author_id, markup=markup, reply_to=reply_to, only_for=only_for,
        )  # fmt: skip

    async def ask_ratings_left(self, author: Person, since: datetime) -> int:
        """Ask again, in private, the ratings the author has not given for requests resolved
        since ``since`` in quiet groups, where they were asked in the group for the author alone
        (and an ephemeral message may never have reached them). How many were asked."""
        asked = 0
        for ticket in await unrated_since(self.session, author.id, since):
            prompts = await messages_of(self.session, ticket.id, TicketMessageKind.rating)
            if any(p.chat_telegram_id == author.telegram_id for p in prompts):
                continue  # asked in private already
            if not await self.quiet(ticket):
                continue
            mentor = await self.person(ticket.assignee_id)
            if mentor is not None:
                await self.ask_rating(ticket, mentor, again=True)
                asked += 1
        return asked

    async def report_unreachable(
        self, mentor: Person, programme_id: int, bot_username: str
    ) -> None:
        """Coordinators hear once that a mentor's cards cannot reach them."""
        if not await matching.note_unreachable(self.session, mentor.id, programme_id, self.now):
            return
        await self.alert_coordinators(
            programme_id,
            lambda _language: _(
                "I cannot write to mentor {mentor}: they have not started the bot or blocked "
                "it, so request cards do not reach them. Ask them to open @{bot} and press "
                "Start."
            ).format(mentor=name(mentor), bot=html.escape(bot_username)),
        )
