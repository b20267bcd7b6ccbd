"""One aiogram Router per feature; ``build_routers`` makes fresh ones for each Dispatcher."""

from __future__ import annotations

from aiogram import Router

from bot.telegram.filters import commands_only
from handlers import (
    audit,
    booking,
    consent,
    consultations,
    conversation,
    coordination,
    groups,
    hours,
    insight,
    invitations,
    mentors,
    people,
    privacy,
    programmes,
    register,
    roster,
    schedule,
    start,
    tickets,
    topics,
    triage,
)


def build_routers() -> list[Router]:
    # Groups first: it turns away unregistered groups before any feature sees their messages.
    # Then /ask, the way most requests come: no dialogue below takes a command like it.
    routers = [
        groups.router(),
        tickets.asking_router(),
        start.router(),
        invitations.router(),
        programmes.router(),
        consent.router(),
        people.router(),
        register.router(),
        privacy.router(),
        hours.router(),
        booking.router(),
        consultations.router(),
        insight.router(),
        roster.router(),
        audit.router(),
        # Before schedule and tickets: a title or hashtags sent after a /topics button.
        topics.router(),
        # Before tickets: a reply to the bot during the /schedule dialogue is not a request.
        schedule.router(),
        # Before conversation: the note for the specialists may be a reply to the ticket's card.
        triage.router(),
        # Tickets last: replies to the bot become requests, so other features see them first;
        # replies to a ticket's own messages (conversation) are told apart before that.
        conversation.router(),
        tickets.router(),
        mentors.router(),
        coordination.router(),
    ]
    for router in routers:
        commands_only(router)  # an update skips the routers of commands it is not
    return routers
