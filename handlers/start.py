"""``/start`` (with or without an invitation token) and ``/help``."""

from __future__ import annotations

import html
from datetime import datetime

from aiogram import Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.domain.access import Actor
from bot.domain.invitations import InvitationProblem, InvitationRefused, redeem_invitation
from bot.domain.programmes import list_programmes
from bot.news.tickets import TicketNews
from bot.telegram.commands import commands_for
from bot.telegram.replies import Replies
from bot.views.consent import consent_keyboard, invitation_notice
from handlers.common import IN_PRIVATE
from models import ConsentKind, RoleKind


def router() -> Router:
    router = Router(name="start")
    router.message.register(start_with_token, CommandStart(deep_link=True), IN_PRIVATE)
    router.message.register(start, CommandStart())
    router.message.register(help_command, Command("help"))
    return router


def role_title(kind: RoleKind) -> str:
    titles = {
        RoleKind.activist: _("activist"),
        RoleKind.mentor: _("mentor"),
        RoleKind.coordinator: _("coordinator"),
    }
    return titles[kind]


async def describe_roles(session: AsyncSession, actor: Actor) -> str:
    lines: list[str] = []
    if actor.is_admin:
        lines.append(_("• administrator of this bot"))
    programmes = {
        p.id: p for p in await list_programmes(session, [r.programme_id for r in actor.roles])
    }
    for role in actor.roles:
        programme = programmes.get(role.programme_id)
        title = html.escape(programme.title) if programme else "?"
        line = _("• {role} in «{programme}»").format(role=role_title(role.kind), programme=title)
        if role.kind == RoleKind.mentor and role.topics:
            topics = ", ".join(t.title(actor.language) for t in role.topics)
            line += _(" — topics: {topics}").format(topics=html.escape(topics))
        elif role.kind == RoleKind.mentor:
            line += _(" — general consultant")
        lines.append(line)
    if not lines:
        return _(
            "You have no role yet. Activists write to the bot from their programme's group; "
            "mentors and coordinators join through an invitation link."
        )
    return _("Your roles:") + "\n" + "\n".join(lines)


def help_text(actor: Actor, *, private: bool) -> str:
    commands = commands_for(actor, private=private)
    listed = "\n".join(f"/{c.name} — {html.escape(c.described_for(actor))}" for c in commands)
    return _("What you can do here:") + "\n" + listed


async def start(
    message: Message,
    outbox: Replies,
    session: AsyncSession,
    actor: Actor,
    news: TicketNews,
    settings: Settings,
    now: datetime,
) -> None:
    private = message.chat.type == "private"
    text = _(
        "Hello! I am MentorDesk. I turn requests from programme groups into consultations: "
        "a mentor of the right topic takes each one and answers through me."
    )
    await outbox.answer(
        message,
        "\n\n".join(
            [text, await describe_roles(session, actor), help_text(actor, private=private)]
        ),
    )
    if private:
        # A rating asked in a quiet group reached its author alone, if at all: now that they
        # have a private chat with the bot, what they have not rated is asked again here.
        await news.ask_ratings_left(actor.person, now - settings.reopen_window)


async def help_command(message: Message, outbox: Replies, actor: Actor) -> None:
    await outbox.answer(message, help_text(actor, private=message.chat.type == "private"))


async def start_with_token(
    message: Message,
    outbox: Replies,
    command: CommandObject,
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    now: datetime,
) -> None:
    token = (command.args or "").strip()
    try:
        redeemed = await redeem_invitation(
            session, token, actor.person, now, capacity=settings.mentor_capacity
        )
    except InvitationRefused as refusal:
        reasons = {
            InvitationProblem.unknown: _("This invitation link is not valid."),
            InvitationProblem.used: _("This invitation link has already been used."),
            InvitationProblem.expired: _("This invitation link has expired."),
        }
        await outbox.answer(
            message, reasons[refusal.problem] + " " + _("Ask the coordinator for a new one.")
        )
        return
    actor.roles = [role for role in actor.person.roles if role.active]
    programme = html.escape(redeemed.programme.title)
    if redeemed.role.kind == RoleKind.mentor and not redeemed.role.topics:
        text = _(
            "Welcome! You are now a general consultant of «{programme}». With triage on, new "
            "requests come to you first: answer them yourself, or pass them to a specialist."
        ).format(programme=programme)
    elif redeemed.role.kind == RoleKind.mentor:
        topics = ", ".join(t.title(actor.language) for t in redeemed.topics) or "—"
        text = _(
            "Welcome! You are now a mentor of «{programme}». Topics: {topics}. "
            "I will send you requests on these topics as they arrive."
        ).format(programme=programme, topics=html.escape(topics))
    else:
        text = _("Welcome! You are now a coordinator of «{programme}».").format(programme=programme)
    await outbox.answer(message, text + "\n\n" + help_text(actor, private=True))
    if settings.ask_consent:
        # Mentors and coordinators read what the programme keeps about them, and answer.
        await outbox.answer(
            message,
            invitation_notice(redeemed.programme),
            reply_markup=consent_keyboard(redeemed.programme, ConsentKind.general),
        )
