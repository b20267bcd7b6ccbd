"""What the ticket handlers share: the answer to a step the ticket service refused."""

from __future__ import annotations

from aiogram.utils.i18n import gettext as _

from bot.domain.errors import DomainError, NotAllowed
from bot.domain.tickets import (
    AlreadyTaken,
    NotMentorOfTopic,
    OverCapacity,
    ReopenWindowPassed,
    RequestEmpty,
    RequestTooLong,
    TicketNotFound,
    TooManyRequests,
    TopicChosenInTriage,
    WrongStatus,
)
from bot.domain.triage import (
    NotCoordinator,
    NotGeneralConsultant,
    NotInTriage,
    NotYourTicket,
    TopicArchived,
)
from bot.views.tickets import name, status_title


def refusal(error: DomainError) -> str:
    """A clear answer, in the person's language, for a step the ticket service refused."""
    answer = _ticket_refusal(error) or _triage_refusal(error)
    if answer is not None:
        return answer
    if isinstance(error, NotAllowed):
        return _("You cannot do this with this request.")
    return _("This cannot be done.")


def _ticket_refusal(error: DomainError) -> str | None:
    """The answer to a refusal of ``bot.domain.tickets``; None for another service's."""
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
    if isinstance(error, TooManyRequests):
        if error.too_many_open:
            return _(
                "You have {count} open requests, as many as one person may have at a time. "
                "Your new request was not saved: send it again when one of them is resolved "
                "(see /my)."
            ).format(count=error.open_now)
        return _(
            "You have sent {count} requests within an hour, as many as one person may. Your "
            "new request was not saved: please send it again a little later."
        ).format(count=error.last_hour)
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
    if isinstance(error, TopicChosenInTriage):
        return _(
            "A general consultant has already passed request #{n} to a specialist and chose "
            "its topic. A coordinator of the programme can change it."
        ).format(n=error.ticket.id)
    return None


def _triage_refusal(error: DomainError) -> str | None:
    """The answer to a refusal of ``bot.domain.triage``; None for another service's."""
    if isinstance(error, NotGeneralConsultant):
        return _(
            "Only a general consultant of the request's programme can pass it to a specialist."
        )
    if isinstance(error, NotYourTicket):
        return _("Request #{n} is with {mentor}: only they can pass it to a specialist.").format(
            n=error.ticket.id, mentor=name(error.assignee)
        )
    if isinstance(error, NotInTriage):
        if error.ticket.escalated_at is None:
            return _(
                "Request #{n} did not come through triage: it is with the mentors of its topic."
            ).format(n=error.ticket.id)
        return _(
            "Request #{n} is no longer with the general consultants: it was passed to a "
            "specialist already."
        ).format(n=error.ticket.id)
    if isinstance(error, TopicArchived):
        return _("The topic «{topic}» is archived: choose an active one.").format(
            topic=error.topic.code
        )
    if isinstance(error, NotCoordinator):
        return _("Only a coordinator of the programme can switch triage.")
    return None
