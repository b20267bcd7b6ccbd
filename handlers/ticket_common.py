"""Small pieces the ticket handlers share: files of a message, ticket numbers, refusals."""

from __future__ import annotations

from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.domain.errors import DomainError, NotAllowed
from bot.domain.tickets import (
    AlreadyTaken,
    FileRef,
    NotMentorOfTopic,
    OverCapacity,
    ReopenWindowPassed,
    RequestEmpty,
    RequestTooLong,
    TicketNotFound,
    WrongStatus,
)
from bot.views.tickets import name, status_title

GROUP_TYPES = frozenset({"group", "supergroup"})


def files_of(message: Message) -> list[FileRef]:
    """The photo (its largest size) or document of a message, by Telegram file id."""
    if message.photo:
        return [FileRef("photo", message.photo[-1].file_id)]
    if message.document:
        return [FileRef("document", message.document.file_id, message.document.file_name)]
    return []


def content_of(message: Message) -> str:
    return message.text or message.caption or ""


def parse_number(text: str | None) -> tuple[int | None, str]:
    """``"42 rest"`` or ``"#42 rest"`` -> (42, "rest"); no number -> (None, text)."""
    head, _sep, rest = (text or "").strip().partition(" ")
    digits = head.lstrip("#")
    if digits.isdigit() and len(digits) <= 12:
        return int(digits), rest.strip()
    return None, (text or "").strip()


def refusal(error: DomainError) -> str:
    """A clear answer, in the person's language, for a step the ticket service refused."""
    if isinstance(error, RequestEmpty):
        return _("The message is empty: write your question in words.")
    if isinstance(error, RequestTooLong):
        return _("This is too long: at most {limit} characters. Please shorten it.").format(
            limit=error.limit
        )
    if isinstance(error, TicketNotFound):
        return _("There is no request #{n}.").format(n=error.number)
    if isinstance(error, AlreadyTaken):
        return _("Request #{n} has already been taken by {mentor}.").format(
            n=error.ticket.id, mentor=name(error.assignee)
        )
    if isinstance(error, OverCapacity):
        return _(
            "You already have {open} requests in progress, your limit is {capacity}. "
            "Resolve one first."
        ).format(open=error.open_tickets, capacity=error.capacity)
    if isinstance(error, NotMentorOfTopic):
        return _("Only a mentor of this request's topic and programme can do this.")
    if isinstance(error, ReopenWindowPassed):
        return _("This request is closed. To ask again, send a new request with /ask.")
    if isinstance(error, WrongStatus):
        return _("Request #{n} is {status}, so this cannot be done.").format(
            n=error.ticket.id, status=status_title(error.ticket.status)
        )
    if isinstance(error, NotAllowed):
        return _("You cannot do this with this request.")
    return _("This cannot be done.")
