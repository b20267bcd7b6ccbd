"""``/invite mentor <topics>``, ``/invite general`` and ``/invite coordinator``: one-time deep
links to a role.

A general consultant is a mentor without a topic: with the programme's triage on, new requests
reach them first. ``/invite mentor`` without topics is not one (a forgotten topic would make
it so unnoticed): it answers with the usage, which names ``/invite general``.
"""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message
from aiogram.utils.deep_linking import create_start_link
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.delivery.outbox import FollowUp
from bot.domain.access import Actor
from bot.domain.invitations import create_invitation
from bot.domain.programmes import get_programme, list_programmes
from bot.domain.topics import UnknownTopics, list_topics, resolve_topics
from bot.telegram.replies import Replies
from bot.views.invitations import InvitePick, invite_keyboard
from bot.views.meetings import local_time
from handlers.common import zone_of
from models import GroupChat, Programme, RoleKind, Topic

KIND_WORDS = {
    "mentor": RoleKind.mentor,
    "ментор": RoleKind.mentor,
    "наставник": RoleKind.mentor,
    "эксперт": RoleKind.mentor,
    "coordinator": RoleKind.coordinator,
    "координатор": RoleKind.coordinator,
}
# Words for a general consultant: a mentor without a topic.
GENERAL_WORDS = frozenset({"general", "общий", "консультант", "ogólny", "ogolny", "konsultant"})
GENERAL = "general"
MAX_TOPIC_WORDS = 10


def router() -> Router:
    router = Router(name="invitations")
    router.message.register(invite, Command("invite"))
    router.callback_query.register(invite_picked, InvitePick.filter())
    return router


def usage(codes: list[str]) -> str:
    return _(
        "Usage: /invite mentor followed by one or more topics, /invite general for a general "
        "consultant (a mentor without a topic, who sees requests first when triage is on), or "
        "/invite coordinator. Topics: {codes}. Example: /invite mentor legal grants"
    ).format(codes=", ".join(codes))


async def _codes(session: AsyncSession, programmes: list[Programme]) -> list[str]:
    """The codes of the programmes' active topics, each once."""
    codes: dict[str, None] = {}
    for programme in programmes:
        codes.update((topic.code, None) for topic in await list_topics(session, programme.id))
    return list(codes)


def may_invite(actor: Actor, kind: RoleKind, programme_id: int) -> bool:
    if kind == RoleKind.coordinator:
        return actor.is_admin
    return actor.coordinates(programme_id)


async def _candidate_programmes(
    session: AsyncSession, actor: Actor, kind: RoleKind
) -> list[Programme]:
    if actor.is_admin:
        return await list_programmes(session)
    if kind == RoleKind.mentor:
        return await list_programmes(session, actor.programmes(RoleKind.coordinator))
    return []


async def invite(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    outbox: Replies,
    bot: Bot,
    now: datetime,
    group: GroupChat | None = None,
) -> None:
    if not (actor.is_admin or actor.has(RoleKind.coordinator)):
        await outbox.answer(message, _("Only a programme coordinator can invite people."))
        return
    words = (command.args or "").split()
    general = bool(words) and words[0].lower() in GENERAL_WORDS
    kind = RoleKind.mentor if general else KIND_WORDS.get(words[0].lower()) if words else None
    if group is not None:
        if group.programme_id is None:
            await outbox.answer(message, _("Register this group first: /register"))
            return
        programmes = [p for p in [await get_programme(session, group.programme_id)] if p]
    else:
        programmes = await _candidate_programmes(session, actor, kind or RoleKind.mentor)
    programmes = [p for p in programmes if may_invite(actor, kind or RoleKind.mentor, p.id)]
    if (
        kind is None
        or len(words) > MAX_TOPIC_WORDS + 1
        or (kind == RoleKind.mentor and not general and len(words) < 2)
        or ((kind == RoleKind.coordinator or general) and len(words) > 1)
    ):
        await outbox.answer(message, usage(await _codes(session, programmes)))
        return
    if not programmes:
        if kind == RoleKind.coordinator and not actor.is_admin:
            await outbox.answer(message, _("Only an admin can invite coordinators."))
        elif kind == RoleKind.mentor and group is not None:
            await outbox.answer(
                message, _("Only this programme's coordinator can invite mentors here.")
            )
        else:
            await outbox.answer(message, _("There is no programme to invite to yet."))
        return
    topic_words = words[1:] if kind == RoleKind.mentor and not general else None
    choices, unknown = await _choices(session, programmes, topic_words)
    if not choices:
        await outbox.answer(
            message,
            _("Unknown topics: {words}.").format(words=html.escape(", ".join(unknown or [])))
            + "\n"
            + usage(await _codes(session, programmes)),
        )
        return
    if len(choices) > 1:
        markup = invite_keyboard(choices, GENERAL if general else kind.value)
        await outbox.answer(message, _("Invite to which programme?"), reply_markup=markup)
        return
    programme, topics = choices[0]
    text = await _make_link(session, actor, kind, topics, programme, settings, bot, now)
    await _hand_over(message, text, actor, outbox)


async def _choices(
    session: AsyncSession, programmes: list[Programme], topic_words: list[str] | None
) -> tuple[list[tuple[Programme, list[Topic]]], list[str] | None]:
    """The programmes to invite to, each with the topics the words name in it, and the fewest
    words that a programme did not know.

    A mentor's topics are the programme's own: only a programme where every word names one of
    its topics is a choice. Without words (a coordinator, a general consultant), every one is.
    """
    choices: list[tuple[Programme, list[Topic]]] = []
    unknown: list[str] | None = None
    for programme in programmes:
        topics: list[Topic] = []
        if topic_words is not None:
            try:
                topics = await resolve_topics(session, programme.id, topic_words)
            except UnknownTopics as missing:
                if unknown is None or len(missing.words) < len(unknown):
                    unknown = missing.words
                continue
        choices.append((programme, topics))
    return choices, unknown


async def _hand_over(message: Message, text: str, actor: Actor, outbox: Replies) -> None:
    """The invitation, to the person who asked for it: in private, whatever the chat."""
    if message.chat.type == "private":
        await outbox.answer(message, text)
        return
    # A one-time link posted in a group could be taken by anyone there: it goes in private.
    if not actor.person.private_chat_open:
        await outbox.reply(
            message,
            _("I cannot write to you in private: open me (press Start) and repeat /invite."),
        )
        return
    # What the group hears waits for Telegram's answer about the private message.
    await outbox.send(
        actor.person.telegram_id,
        text,
        purpose="invitation",
        person_id=actor.person.id,
        then=FollowUp(
            message.chat.id,
            _("I sent you the invitation link in private."),
            reply_to=message.message_id,
        ),
        otherwise=FollowUp(
            message.chat.id,
            _("I cannot write to you in private: open me (press Start) and repeat /invite."),
            reply_to=message.message_id,
        ),
    )


async def _make_link(
    session: AsyncSession,
    actor: Actor,
    kind: RoleKind,
    topics: list[Topic],
    programme: Programme,
    settings: Settings,
    bot: Bot,
    now: datetime,
) -> str:
    invitation = await create_invitation(
        session,
        programme_id=programme.id,
        kind=kind,
        topics=topics,
        created_by=actor.person,
        now=now,
        ttl=settings.invite_ttl,
    )
    link = await create_start_link(bot, invitation.token)
    expires = local_time(invitation.expires_at, zone_of(actor, settings), actor.language)
    if kind == RoleKind.mentor and not topics:
        what = _(
            "a general consultant of «{programme}» (a mentor without a topic: with triage on, "
            "new requests reach them first)"
        ).format(programme=html.escape(programme.title))
    elif kind == RoleKind.mentor:
        what = _("a mentor of «{programme}» (topics: {topics})").format(
            programme=html.escape(programme.title),
            topics=html.escape(", ".join(t.title(actor.language) for t in topics)),
        )
    else:
        what = _("a coordinator of «{programme}»").format(programme=html.escape(programme.title))
    return _(
        "Invitation for {what}. Send this link to the person; it works once and "
        "until {expires}:\n{link}"
    ).format(what=what, expires=expires, link=html.escape(link))


async def invite_picked(
    query: CallbackQuery,
    outbox: Replies,
    callback_data: InvitePick,
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    bot: Bot,
    now: datetime,
) -> Any:
    message = query.message
    general = callback_data.kind == GENERAL
    kind = RoleKind.mentor if general else KIND_WORDS.get(callback_data.kind)
    programme = await get_programme(session, callback_data.programme_id)
    if (
        kind is None
        or programme is None
        or not isinstance(message, Message)
        or message.chat.type != "private"
    ):
        return await outbox.callback(query, _("This button is not valid."), show_alert=True)
    if not may_invite(actor, kind, programme.id):
        return await outbox.callback(
            query, _("You cannot invite people to this programme."), show_alert=True
        )
    topics: list[Topic] = []
    if kind == RoleKind.mentor and not general:
        try:
            wanted = [int(part) for part in callback_data.topics.split(".") if part]
        except ValueError:
            return await outbox.callback(query, _("This button is not valid."), show_alert=True)
        by_id = {t.id: t for t in await list_topics(session, programme.id)}
        topics = [by_id[i] for i in wanted if i in by_id]
        if not topics or len(topics) != len(wanted):
            return await outbox.callback(query, _("This button is not valid."), show_alert=True)
    text = await _make_link(session, actor, kind, topics, programme, settings, bot, now)
    await outbox.callback(query)
    await outbox.edit_message(message, text)
    return None
