"""How tickets look in Telegram: button data, keyboards and texts, in the current language.

Callback data carries ids only; every handler that receives it loads the ticket again and
checks the presser's rights, so forged data can name a ticket but never act on it.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.domain.matching import Candidate
from bot.domain.tickets import Page
from bot.time.zones import zone
from bot.views.booking import BookStart
from models import Person, Programme, Ticket, TicketEvent, TicketEventKind, TicketStatus, Topic

PREVIEW = 80  # characters of a request shown in lists
SUMMARY_PREVIEW = 60  # characters of a request shown on a summary card
EVENT_PREVIEW = 300  # characters of a message shown in a ticket's history


class ClaimButton(CallbackData, prefix="tc"):
    ticket: int


class ResolveButton(CallbackData, prefix="tr"):
    ticket: int


class TopicButton(CallbackData, prefix="tt"):
    ticket: int
    topic: int


class RateButton(CallbackData, prefix="ts"):
    ticket: int
    stars: int


class AssignButton(CallbackData, prefix="ta"):
    ticket: int
    mentor: int  # the person's id


class TicketAction(CallbackData, prefix="tm"):
    """The menu under ``/ticket N``: assign, topic, cancel, cancel_yes, back."""

    ticket: int
    action: str


class ListPage(CallbackData, prefix="tl"):
    view: str  # "my", "all" or "queue"
    page: int
    status: str = ""
    topic: int = 0


class HistoryPage(CallbackData, prefix="th"):
    ticket: int
    page: int


class DraftButton(CallbackData, prefix="tn"):
    """Steps of the private request dialogue: programme, topic, send, retopic, cancel."""

    action: str
    value: int = 0


class EscalateButton(CallbackData, prefix="te"):
    """Passing a request to a specialist: start (show topics), topic (chosen: ask for a note),
    skip (pass on without a note), back (the card as it was)."""

    ticket: int
    action: str
    topic: int = 0


# Every prefix above: a press with one of them that no handler accepts is answered as invalid.
PREFIXES = frozenset({"tc", "tr", "tt", "ts", "ta", "tm", "tl", "th", "tn", "te"})
CARD_LIMIT = 4000  # Telegram's limit is 4096 characters


def number(ticket: Ticket) -> str:
    return f"#{ticket.id}"


def status_title(status: TicketStatus) -> str:
    titles = {
        TicketStatus.open: _("waiting for a mentor"),
        TicketStatus.claimed: _("in progress"),
        TicketStatus.resolved: _("resolved"),
        TicketStatus.closed: _("closed"),
        TicketStatus.cancelled: _("cancelled"),
    }
    return titles[status]


def topic_title(topic: Topic | None, language: str) -> str:
    return html.escape(topic.title(language)) if topic is not None else _("no topic")


# Telegram's limit on a topic's name.
TOPIC_NAME_LIMIT = 128


def topic_name(ticket: Ticket, topic: Topic | None, author: Person | None, language: str) -> str:
    """The name of the ticket's topic in its mentor's chat, plain text within Telegram's limit:
    «#12 · Юридические вопросы · Оксана»."""
    title = topic.title(language) if topic is not None else _("no topic")
    author_name = author.display_name if author is not None else "—"
    text = f"{number(ticket)} · {title} · {author_name}"
    return text if len(text) <= TOPIC_NAME_LIMIT else text[: TOPIC_NAME_LIMIT - 1] + "…"


def name(person: Person | None) -> str:
    return html.escape(person.display_name) if person is not None else "—"


def quote(text: str, limit: int | None = None) -> str:
    if limit is not None and len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return html.escape(text)


def when(moment: datetime, zone_name: str) -> str:
    return moment.astimezone(zone(zone_name)).strftime("%d.%m %H:%M")


def heading(ticket: Ticket, topic: Topic | None, language: str) -> str:
    return f"<b>{number(ticket)}</b> · {topic_title(topic, language)}"


def attachments_note(ticket: Ticket) -> str:
    count = len(ticket.attachments)
    return _("📎 files: {count}").format(count=count) if count else ""


@dataclass(frozen=True)
class Handover:
    """What a specialist reads with a request a general consultant passed on: who passed it,
    their note, and the conversation so far (lines of the history, oldest first)."""

    by: Person | None
    note: str | None
    conversation: list[str] = field(default_factory=list)


def handover_lines(handover: Handover) -> list[str]:
    if handover.note:
        return [
            _("↪️ Passed on by {consultant}, general consultant. Note: «{note}»").format(
                consultant=name(handover.by), note=quote(handover.note)
            )
        ]
    return [
        _("↪️ Passed on by {consultant}, general consultant, without a note.").format(
            consultant=name(handover.by)
        )
    ]


def _conversation(handover: Handover | None, room: int) -> str:
    """The conversation so far, newest lines kept when it does not all fit in ``room``."""
    if handover is None or not handover.conversation:
        return ""
    title = "\n\n" + _("The conversation so far:")
    kept: list[str] = []
    used = len(title)
    for line in reversed(handover.conversation):
        if used + len(line) + 3 > room:
            kept.append("…")
            break
        kept.append(line)
        used += len(line) + 3
    if kept == ["…"]:
        return ""
    return title + "".join(f"\n• {line}" if line != "…" else "\n…" for line in reversed(kept))


def _card(
    first: str,
    ticket: Ticket,
    author: Person | None,
    place: str,
    handover: Handover | None,
    footer: str = "",
) -> str:
    lines = [
        first,
        _("From {author}, {place}").format(author=name(author), place=html.escape(place)),
    ]
    if ticket.attachments:
        lines.append(attachments_note(ticket))
    if handover is not None:
        lines += handover_lines(handover)
    elif ticket.in_triage:
        lines.append(
            _("General consultation: answer it yourself, or pass it to a specialist of its topic.")
        )
    head = "\n".join(lines)
    room = CARD_LIMIT - len(head) - len(footer) - 2
    body = quote(ticket.text, max(room, 200))
    return head + "\n\n" + body + _conversation(handover, room - len(body)) + footer


def card_text(
    ticket: Ticket,
    topic: Topic | None,
    author: Person | None,
    place: str,
    language: str,
    handover: Handover | None = None,
) -> str:
    """The request as a mentor sees it before claiming it."""
    first = _("🆕 New request {heading}").format(heading=heading(ticket, topic, language))
    return _card(first, ticket, author, place, handover)


def claimed_card_text(
    ticket: Ticket,
    topic: Topic | None,
    author: Person,
    place: str,
    language: str,
    handover: Handover | None = None,
    *,
    escalate: bool = False,
) -> str:
    """The request as its assignee sees it: how to answer it (or, for a general consultant,
    pass it on)."""
    first = _("✅ You took request {heading}").format(heading=heading(ticket, topic, language))
    footer = "\n\n" + _(
        "Reply to this message to answer (text, photo or document): I will pass it on "
        "as a reply to the request. Or: /reply {n} text. When done, press «Resolve»."
    ).format(n=ticket.id)
    if escalate:
        footer += "\n" + _(
            "Needs a specialist? Press «Pass to a specialist», or: /escalate {n} topic note"
        ).format(n=ticket.id)
    return _card(first, ticket, author, place, handover, footer)


def escalated_card_text(ticket: Ticket, topic: Topic | None, language: str) -> str:
    """The general consultant's card once they passed the request on."""
    return (
        _("↪️ You passed request {heading} to its specialists.").format(
            heading=heading(ticket, topic, language)
        )
        + "\n"
        + _("History: /ticket {n}").format(n=ticket.id)
    )


def taken_card_text(ticket: Ticket, topic: Topic | None, mentor: Person, language: str) -> str:
    return _("Request {heading} was taken by {mentor}.").format(
        heading=heading(ticket, topic, language), mentor=name(mentor)
    )


def withdrawn_card_text(ticket: Ticket, topic: Topic | None, language: str) -> str:
    return _("Request {heading} is no longer waiting for you ({status}).").format(
        heading=heading(ticket, topic, language), status=status_title(ticket.status)
    )


def erased_card_text(ticket: Ticket, topic: Topic | None, language: str) -> str:
    return _("Request {heading}: its text was erased ({status}).").format(
        heading=heading(ticket, topic, language), status=status_title(ticket.status)
    )


def grid(buttons: Sequence[InlineKeyboardButton], width: int) -> InlineKeyboardMarkup:
    """The buttons in rows of ``width``. The keyboards that every request builds are made
    directly: aiogram's builder copies all its buttons at each one added, so a keyboard of n
    buttons costs n² copies (a summary card's 25 took half of a request's time)."""
    rows = [list(buttons[start : start + width]) for start in range(0, len(buttons), width)]
    return InlineKeyboardMarkup(inline_keyboard=rows)


def claim_keyboard(ticket: Ticket) -> InlineKeyboardMarkup:
    button = InlineKeyboardButton(
        text=_("Claim"), callback_data=ClaimButton(ticket=ticket.id).pack()
    )
    return grid([button], 1)


def resolve_keyboard(ticket: Ticket, *, escalate: bool = False) -> InlineKeyboardMarkup:
    """«Resolve»; for a general consultant holding a request in triage, «Pass to a specialist»
    too."""
    builder = InlineKeyboardBuilder()
    builder.button(text=_("Resolve"), callback_data=ResolveButton(ticket=ticket.id))
    if escalate:
        builder.button(
            text=_("Pass to a specialist"),
            callback_data=EscalateButton(ticket=ticket.id, action="start"),
        )
    return builder.as_markup()


def escalate_topics_keyboard(
    ticket: Ticket, topics: Sequence[Topic], language: str
) -> InlineKeyboardMarkup:
    """The programme's active topics to pass the request to (its suggested one ticked)."""
    builder = InlineKeyboardBuilder()
    for topic in topics:
        mark = "✅ " if topic.id == ticket.topic_id else ""
        builder.button(
            text=mark + topic.title(language),
            callback_data=EscalateButton(ticket=ticket.id, action="topic", topic=topic.id),
        )
    builder.adjust(2)
    builder.row(
        InlineKeyboardButton(
            text="« " + _("Back"),
            callback_data=EscalateButton(ticket=ticket.id, action="back").pack(),
        )
    )
    return builder.as_markup()


def escalate_note_keyboard(ticket: Ticket, topic: Topic) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=_("Without a note"),
        callback_data=EscalateButton(ticket=ticket.id, action="skip", topic=topic.id),
    )
    builder.button(
        text=_("Cancel"), callback_data=EscalateButton(ticket=ticket.id, action="cancel")
    )
    builder.adjust(1)
    return builder.as_markup()


def topic_keyboard(ticket: Ticket, topics: Sequence[Topic], language: str) -> InlineKeyboardMarkup:
    """One button per topic; the current one carries a tick and confirms it."""
    buttons = [
        InlineKeyboardButton(
            text=("✅ " if topic.id == ticket.topic_id else "") + topic.title(language),
            callback_data=TopicButton(ticket=ticket.id, topic=topic.id).pack(),
        )
        for topic in topics
    ]
    return grid(buttons, 2)


def stars_text(stars: object) -> str:
    """A rating from 1 to 5 as every message and button shows it: ``4 ⭐``."""
    return f"{stars} ⭐"


def rating_keyboard(ticket: Ticket) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for stars in range(1, 6):
        builder.button(
            text=stars_text(stars),
            callback_data=RateButton(ticket=ticket.id, stars=stars),
        )
    builder.adjust(5)
    return builder.as_markup()


def ack_text(
    ticket: Ticket, topic: Topic | None, language: str, *, named: bool, mentors: int
) -> str:
    """The bot's answer in the thread: number, topic and what happens next."""
    if ticket.in_triage:
        return _triage_ack_text(ticket, topic, language, named=named, mentors=mentors)
    if topic is None:
        return "\n".join(
            [
                _accepted(ticket, topic, language),
                _(
                    "Which topic is it about? Choose it below, and the mentors of that topic "
                    "will see your request."
                ),
                _("History: /ticket {n}").format(n=ticket.id),
            ]
        )
    lines = [_accepted(ticket, topic, language)]
    if mentors:
        lines.append(
            _(
                "Mentors of this topic have been notified; the one who takes it will answer "
                "here, as a reply to your message. Reply to the answers to continue."
            )
        )
    else:
        lines.append(
            _(
                "No mentor of this topic is free right now; the coordinators have been told "
                "and will find one."
            )
        )
    if not named:
        lines.append(_("Not the right topic? Choose another one below."))
    lines.append(_("History: /ticket {n}").format(n=ticket.id))
    return "\n".join(lines)


def _accepted(ticket: Ticket, topic: Topic | None, language: str) -> str:
    """The first line of the answer to a request: its number, and its topic when it has one."""
    if topic is None:
        return _("Request {number} accepted.").format(number=f"<b>{number(ticket)}</b>")
    return _("Request {number} accepted. Topic: {topic}.").format(
        number=f"<b>{number(ticket)}</b>", topic=topic_title(topic, language)
    )


def _triage_ack_text(
    ticket: Ticket, topic: Topic | None, language: str, *, named: bool, mentors: int
) -> str:
    """The answer to a request in triage: a general consultant sees it first."""
    lines = [_accepted(ticket, topic, language)]
    if mentors:
        lines.append(
            _(
                "A general consultant will look at it first: they answer here, as a reply to "
                "your message, or pass it to a specialist. Reply to the answers to continue."
            )
        )
    else:
        lines.append(
            _("No consultant is free right now; the coordinators have been told and will find one.")
        )
    if not named:
        if topic is None:
            lines.append(_("If you know its topic, choose it below: it helps the consultant."))
        else:
            lines.append(_("Not the right topic? Choose another one below."))
    lines.append(_("History: /ticket {n}").format(n=ticket.id))
    return "\n".join(lines)


@dataclass(frozen=True)
class TicketActions:
    """What the viewer of ``/ticket N`` may do with the request, each a button."""

    assign: bool = False
    topic: bool = False
    cancel: bool = False
    book: bool = False
    resolve: bool = False


def ticket_keyboard(
    ticket: Ticket, actions: TicketActions, page: int, pages: int
) -> InlineKeyboardMarkup | None:
    """The actions allowed, two to a row, then « and » through the history's pages."""
    builder = InlineKeyboardBuilder()
    if actions.assign:
        builder.button(
            text=_("Assign"), callback_data=TicketAction(ticket=ticket.id, action="assign")
        )
    if actions.topic:
        builder.button(
            text=_("Topic"), callback_data=TicketAction(ticket=ticket.id, action="topic")
        )
    if actions.cancel:
        builder.button(
            text=_("Cancel request"), callback_data=TicketAction(ticket=ticket.id, action="cancel")
        )
    if actions.book:
        builder.button(text=_("Book a consultation"), callback_data=BookStart(ticket=ticket.id))
    if actions.resolve:
        builder.button(text=_("Resolve"), callback_data=ResolveButton(ticket=ticket.id))
    builder.adjust(2)
    navigation = InlineKeyboardBuilder()
    if page > 0:
        navigation.button(text="«", callback_data=HistoryPage(ticket=ticket.id, page=page - 1))
    if page + 1 < pages:
        navigation.button(text="»", callback_data=HistoryPage(ticket=ticket.id, page=page + 1))
    builder.attach(navigation)
    markup = builder.as_markup()
    return markup if markup.inline_keyboard else None


def assign_keyboard(ticket: Ticket, choices: Sequence[Candidate]) -> InlineKeyboardMarkup:
    """A button per mentor to pass the request to, with their load, then «Back»."""
    builder = InlineKeyboardBuilder()
    for candidate in choices:
        builder.button(
            text=f"{candidate.person.display_name} ({candidate.open_tickets}/{candidate.capacity})",
            callback_data=AssignButton(ticket=ticket.id, mentor=candidate.person.id),
        )
    builder.button(
        text="« " + _("Back"), callback_data=TicketAction(ticket=ticket.id, action="back")
    )
    builder.adjust(1)
    return builder.as_markup()


def cancel_keyboard(ticket: Ticket) -> InlineKeyboardMarkup:
    """«Yes, cancel #N», then «Back»."""
    builder = InlineKeyboardBuilder()
    builder.button(
        text=_("Yes, cancel {number}").format(number=number(ticket)),
        callback_data=TicketAction(ticket=ticket.id, action="cancel_yes"),
    )
    builder.button(
        text="« " + _("Back"), callback_data=TicketAction(ticket=ticket.id, action="back")
    )
    builder.adjust(1)
    return builder.as_markup()


def queue_keyboard(page: Page) -> InlineKeyboardMarkup | None:
    """«Claim #N» for each request of a page of ``/queue``, two to a row, then « and »."""
    builder = InlineKeyboardBuilder()
    for ticket in page.tickets:
        builder.button(
            text=_("Claim {number}").format(number=number(ticket)),
            callback_data=ClaimButton(ticket=ticket.id),
        )
    builder.adjust(2)
    return page_keyboard(page, "queue", builder=builder)


# --- the private request dialogue ------------------------------------------------------------


def _cancel_draft(builder: InlineKeyboardBuilder) -> None:
    builder.button(text=_("Cancel"), callback_data=DraftButton(action="cancel"))


def draft_programmes_keyboard(programmes: Sequence[Programme]) -> InlineKeyboardMarkup:
    """A button per programme the request may be for, then «Cancel»."""
    builder = InlineKeyboardBuilder()
    for programme in programmes:
        builder.button(
            text=programme.title[:60],
            callback_data=DraftButton(action="programme", value=programme.id),
        )
    _cancel_draft(builder)
    builder.adjust(1)
    return builder.as_markup()


def draft_topics_keyboard(
    topics: Sequence[Topic], language: str, marked: int | None
) -> InlineKeyboardMarkup:
    """A button per topic, the ``marked`` one ticked, and «Cancel», two to a row."""
    builder = InlineKeyboardBuilder()
    for topic in topics:
        mark = "✅ " if topic.id == marked else ""
        builder.button(
            text=mark + topic.title(language),
            callback_data=DraftButton(action="topic", value=topic.id),
        )
    _cancel_draft(builder)
    builder.adjust(2)
    return builder.as_markup()


def draft_confirm_keyboard() -> InlineKeyboardMarkup:
    """«Send», «Change topic» and «Cancel», one to a row."""
    builder = InlineKeyboardBuilder()
    builder.button(text=_("Send"), callback_data=DraftButton(action="send"))
    builder.button(text=_("Change topic"), callback_data=DraftButton(action="retopic"))
    _cancel_draft(builder)
    builder.adjust(1)
    return builder.as_markup()


def draft_cancel_keyboard() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    _cancel_draft(builder)
    return builder.as_markup()


def ticket_line(ticket: Ticket, topic: Topic | None, language: str) -> str:
    first = f"{heading(ticket, topic, language)} · {status_title(ticket.status)}"
    return f"{first}\n{quote(ticket.text, PREVIEW)}"


def page_keyboard(
    page: Page,
    view: str,
    *,
    status: str = "",
    topic: int = 0,
    builder: InlineKeyboardBuilder | None = None,
) -> InlineKeyboardMarkup | None:
    """« and » buttons for a long list (kept with any buttons already in ``builder``)."""
    builder = builder or InlineKeyboardBuilder()
    navigation = []
    if page.page > 0:
        data = ListPage(view=view, page=page.page - 1, status=status, topic=topic)
        navigation.append(InlineKeyboardButton(text="« " + _("Back"), callback_data=data.pack()))
    if page.page + 1 < page.pages:
        data = ListPage(view=view, page=page.page + 1, status=status, topic=topic)
        navigation.append(InlineKeyboardButton(text=_("Next") + " »", callback_data=data.pack()))
    if navigation:
        builder.row(*navigation)
    markup = builder.as_markup()
    return markup if markup.inline_keyboard else None


def page_footer(page: Page) -> str:
    if page.pages < 2:
        return ""
    return "\n\n" + _("Page {page} of {pages}").format(page=page.page + 1, pages=page.pages)


def event_text(  # noqa: PLR0912 - one sentence per kind of event, read as a table
    event: TicketEvent,
    people: dict[int, Person],
    topics: dict[str, Topic],
    language: str,
    *,
    erased: bool = False,
) -> str:
    """One line of a ticket's history, without its time; of an ``erased`` request (its
    author forgotten, or its retention passed), the texts are said to be erased."""
    who = name(people.get(event.actor_id or 0)) if event.actor_id else _("bot")
    body = quote(event.text or "", EVENT_PREVIEW)
    if erased and not body:
        body = _("(erased)")
    details = event.details or {}
    kind = event.kind
    if kind == TicketEventKind.created:
        return _("{who} filed the request: «{text}»").format(who=who, text=body)
    if kind == TicketEventKind.edited:
        return _("the request was edited: «{text}»").format(text=body)
    if kind == TicketEventKind.topic_set:
        topic = topic_title(topics.get(str(details.get("topic", ""))), language)
        if not event.actor_id:
            return _("the bot suggested the topic: {topic}").format(topic=topic)
        return _("{who} set the topic: {topic}").format(who=who, topic=topic)
    if kind == TicketEventKind.claimed:
        return _("{who} took the request").format(who=who)
    if kind == TicketEventKind.mentor_message:
        return _("{who} (mentor): {text}").format(who=who, text=body or "📎")
    if kind == TicketEventKind.author_message:
        return _("{who} (author): {text}").format(who=who, text=body or "📎")
    if kind == TicketEventKind.reassigned:
        target = people.get(int(details.get("to") or 0))
        if target is None:  # the mentor was deactivated: the request went back to the queue
            return _("{who} returned the request to the queue").format(who=who)
        return _("{who} passed the request to {mentor}").format(who=who, mentor=name(target))
    if kind == TicketEventKind.resolved:
        return _("{who} resolved the request").format(who=who)
    if kind == TicketEventKind.reopened:
        return _("{who} reopened the request").format(who=who)
    if kind == TicketEventKind.rated:
        return _("{who} rated the answer: {stars}").format(
            who=who, stars=stars_text(details.get("rating"))
        )
    if kind == TicketEventKind.commented:
        return _("{who} commented: {text}").format(who=who, text=body)
    if kind == TicketEventKind.cancelled:
        return _("{who} cancelled the request").format(who=who)
    if kind == TicketEventKind.escalated:
        topic = topic_title(topics.get(str(details.get("topic", ""))), language)
        if body:
            return _("{who} passed the request to a specialist ({topic}), note: «{text}»").format(
                who=who, topic=topic, text=body
            )
        return _("{who} passed the request to a specialist ({topic})").format(who=who, topic=topic)
    return _("the request was closed")


def summary_text(
    tickets: Sequence[Ticket],
    topics: dict[int, Topic],
    assignees: dict[int, Person],
    viewer_id: int,
    language: str,
) -> str:
    """A mentor's summary card: the requests that arrived at once, and what became of each."""
    waiting = sum(1 for ticket in tickets if ticket.status == TicketStatus.open)
    if waiting:
        lines = [
            _("📋 New requests for you: {count} waiting").format(count=waiting),
            _(
                "Many arrived at once, so they are listed here rather than a card each. "
                "Press «Claim #N» to take one: its full text comes then."
            ),
            "",
        ]
    else:
        lines = [_("📋 None of these requests is waiting any more."), ""]
    for ticket in tickets:
        head = heading(ticket, topics.get(ticket.topic_id or 0), language)
        if ticket.status == TicketStatus.open:
            state = quote(ticket.text, SUMMARY_PREVIEW)
        elif ticket.assignee_id == viewer_id:
            state = _("yours")
        elif ticket.assignee_id is not None and ticket.status != TicketStatus.cancelled:
            state = _("taken by {mentor}").format(mentor=name(assignees.get(ticket.assignee_id)))
        else:
            state = status_title(ticket.status)
        lines.append(f"{head} — {state}")
    return "\n".join(lines)


def summary_keyboard(tickets: Sequence[Ticket]) -> InlineKeyboardMarkup | None:
    """A «Claim #N» button for each request on the card still waiting, three to a row."""
    buttons = [
        InlineKeyboardButton(
            text=_("Claim {number}").format(number=number(ticket)),
            callback_data=ClaimButton(ticket=ticket.id).pack(),
        )
        for ticket in tickets
        if ticket.status == TicketStatus.open
    ]
    return grid(buttons, 3) if buttons else None
