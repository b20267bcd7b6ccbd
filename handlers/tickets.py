"""Requests become tickets: ``/ask``, mentions and replies in groups, the private dialogue.

Also the author's side of a ticket's life that needs no conversation: choosing the topic,
editing the request message, and rating the answer.
"""

from __future__ import annotations

import html
import re
from datetime import datetime
from typing import Any

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject, Filter, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.delivery import Outgoing
from bot.domain import consent, matching, tickets
from bot.domain.access import Actor
from bot.domain.consent import blank_update
from bot.domain.errors import DomainError
from bot.domain.programmes import list_programmes
from bot.domain.topic_learning import Suggesters, record_label
from bot.domain.topics import ActiveTopics, get_topic, list_topics
from bot.news.profiles import ask_profile_once
from bot.news.tickets import TicketNews
from bot.telegram.replies import Replies
from bot.views.consent import consent_keyboard, consent_question
from bot.views.tickets import (
    DraftButton,
    RateButton,
    TopicButton,
    ack_text,
    draft_cancel_keyboard,
    draft_confirm_keyboard,
    draft_programmes_keyboard,
    draft_topics_keyboard,
    name,
    number,
    quote,
    stars_text,
    topic_keyboard,
)
from handlers.common import IN_GROUP, IN_PRIVATE, NotCommand, content_of, files_of
from handlers.ticket_common import refusal
from models import (
    ConsentKind,
    GroupChat,
    Programme,
    Ticket,
    TicketMessageKind,
    TicketStatus,
    Topic,
)

_COMMAND_PREFIX = re.compile(r"^/\w+(@\w+)?\s*", re.UNICODE)


class Draft(StatesGroup):
    """The private request dialogue: programme (if several) -> topic -> text -> confirm; the
    programme's notice (``consent``) after the programme, and after a health topic."""

    programme = State()
    consent = State()
    topic = State()
    text = State()
    confirm = State()


def asking_router() -> Router:
    """``/ask`` in a group, the way most requests come. Its router goes early in the order
    (``handlers.build_routers``): no other feature's dialogue takes a command like this one, and
    a request is spared their checks. Mentions of the bot and replies to it stay with the
    tickets router (``router``), after the dialogues that may claim them first."""
    router = Router(name="asking")
    router.message.register(ask_in_group, Command("ask"), IN_GROUP)
    return router


def router() -> Router:
    router = Router(name="tickets")
    in_group = IN_GROUP
    private = IN_PRIVATE
    router.message.register(mention_in_group, in_group, MentionsBot())
    router.message.register(reply_in_group, in_group, RepliesToBot())
    router.message.register(
        cancel_draft, Command("cancel"), private, StateFilter(*Draft.__all_states__)
    )
    router.message.register(start_draft, Command("ask", "new"), private)
    router.message.register(draft_text, StateFilter(Draft.text), private, NotCommand())
    router.callback_query.register(draft_pressed, DraftButton.filter())
    router.callback_query.register(topic_pressed, TopicButton.filter())
    router.callback_query.register(rate_pressed, RateButton.filter())
    router.edited_message.register(request_edited)
    return router


class MentionsBot(Filter):
    """A message that names the bot (``@bot``); passes the text without the mention on."""

    async def __call__(self, message: Message, bot: Bot) -> bool | dict[str, Any]:
        text = content_of(message)
        me = await bot.me()
        for entity in message.entities or message.caption_entities or []:
            if entity.type == "mention" and me.username:
                mention = entity.extract_from(text)
                if mention.lower() == f"@{me.username}".lower():
                    return {"request_text": text.replace(mention, " ").strip()}
            if entity.type == "text_mention" and entity.user and entity.user.id == me.id:
                return {"request_text": text}
        return False


class RepliesToBot(Filter):
    """A reply to one of the bot's messages (those bound to a ticket were handled before)."""

    async def __call__(self, message: Message, bot: Bot) -> bool:
        reply = message.reply_to_message
        return (
            reply is not None
            and reply.from_user is not None
            and reply.from_user.id == bot.id
            and not content_of(message).startswith("/")
        )


def request_text(text: str, bot_username: str | None) -> str:
    """The request in a message: without its leading command and without the bot's mention."""
    text = _COMMAND_PREFIX.sub("", text, count=1) if text.startswith("/") else text
    if bot_username:
        text = re.sub(rf"@{re.escape(bot_username)}\b", " ", text, flags=re.IGNORECASE)
    return text.strip()


# --- intake in groups ------------------------------------------------------------------------


async def ask_in_group(
    message: Message,
    command: CommandObject,
    outbox: Replies,
    actor: Actor,
    news: TicketNews,
    suggesters: Suggesters,
    active_topics: ActiveTopics,
    group: GroupChat | None = None,
    programme: Programme | None = None,
    inbox_update_id: int | None = None,
) -> None:
    if not (command.args or "").strip() and not files_of(message):
        await outbox.reply(
            message,
            _(
                "Write your question right after the command, for example:\n"
                "/ask How do we register an NGO?\n"
                "Or reply to this message with your question."
            ),
        )
        return
    await file_in_group(
        message, command.args or "", outbox, actor, news, suggesters, active_topics, group,
        programme, update_id=inbox_update_id,
    )  # fmt: skip


async def mention_in_group(
    message: Message,
    request_text: str,
    outbox: Replies,
    actor: Actor,
    news: TicketNews,
    suggesters: Suggesters,
    active_topics: ActiveTopics,
    group: GroupChat | None = None,
    programme: Programme | None = None,
    inbox_update_id: int | None = None,
) -> None:
    await file_in_group(
        message, request_text, outbox, actor, news, suggesters, active_topics, group, programme,
        update_id=inbox_update_id,
    )  # fmt: skip


async def reply_in_group(
    message: Message,
    outbox: Replies,
    actor: Actor,
    news: TicketNews,
    suggesters: Suggesters,
    active_topics: ActiveTopics,
    group: GroupChat | None = None,
    programme: Programme | None = None,
    inbox_update_id: int | None = None,
) -> None:
    await file_in_group(
        message, content_of(message), outbox, actor, news, suggesters, active_topics, group,
        programme, update_id=inbox_update_id,
    )  # fmt: skip


async def file_in_group(
    message: Message,
    text: str,
    outbox: Replies,
    actor: Actor,
    news: TicketNews,
    suggesters: Suggesters,
    active_topics: ActiveTopics,
    group: GroupChat | None,
    programme: Programme | None,
    *,
    update_id: int | None,
) -> None:
    """File a request from a group; the first one of a person in a programme waits for their
    consent (kept as its update, ``update_id``, in the inbox; see ``handlers.consent``)."""
    if group is None or group.programme_id is None or programme is None:
        await outbox.reply(
            message,
            _(
                "This group is not registered to a programme yet, so I cannot take requests "
                "here. An admin or a coordinator can send /register."
            ),
        )
        return
    if not any(role.programme_id == group.programme_id for role in actor.roles):
        await outbox.reply(
            message, _("Only members of this group's programme can file requests here.")
        )
        return
    try:
        cleaned = tickets.clean_text(text)
    except DomainError as error:
        await outbox.reply(message, refusal(error))
        return
    capped = await _over_the_cap(actor, news)
    if capped is not None:
        if tickets.tell_of_the_cap(actor.person, news.now):  # once, not for a whole burst
            await outbox.reply(message, refusal(capped))
        return
    if await _held_for_consent(message, actor, news, programme, ConsentKind.general, update_id):
        return
    topics = await active_topics.of(news.session, programme)
    topic, named = await suggesters.choose(news.session, group.programme_id, topics, cleaned)
    if not named:
        topic, topics = await _guess_or_ask(
            news, suggesters, group.programme_id, topic, topics, cleaned
        )
    if (
        topic is not None
        and topic.health
        and await _held_for_consent(
            message, actor, news, programme, ConsentKind.health, update_id, topic
        )
    ):
        return
    ticket, created = await tickets.open_ticket(
        news.session,
        programme_id=group.programme_id,
        author=actor.person,
        text=cleaned,
        chat_telegram_id=message.chat.id,
        message_id=message.message_id,
        group_id=group.id,
        topic=topic,
        topic_confirmed=named,
        files=files_of(message),
        now=news.now,
    )
    if not created:
        return
    await acknowledge(message, ticket, topic, topics, actor, news, named=named, quiet=outbox.quiet)


async def _held_for_consent(
    message: Message,
    actor: Actor,
    news: TicketNews,
    programme: Programme,
    kind: ConsentKind,
    update_id: int | None,
    topic: Topic | None = None,
) -> bool:
    """Whether the request waits for its author's consent: then they alone are asked, and the
    request stays in the inbox, stored nowhere else."""
    session = news.session
    if not news.settings.ask_consent or await consent.has_consent(
        session, actor.person.id, programme, kind
    ):
        return False
    held = await consent.hold(session, actor.person.id, programme.id, kind, update_id, news.now)
    await news.outbox.send(
        message.chat.id,
        consent_question(programme, kind, topic, actor.language),
        markup=consent_keyboard(programme, kind, held.id),
        reply_to=message.message_id,
        purpose="consent",
        person_id=actor.person.id,
        only_for=actor.person.telegram_id,
    )
    return True


async def _guess_or_ask(
    news: TicketNews,
    suggesters: Suggesters,
    programme_id: int,
    guess: Topic | None,
    topics: list[Topic],
    text: str,
) -> tuple[Topic | None, list[Topic]]:
    """A guessed topic, and the topics its author may choose from. A vague request, or a guess
    nobody could take, is put to its author first (no topic, so no card goes out): the
    likeliest topics that have a mentor with room, or all of them when none has."""
    capacity = news.settings.mentor_capacity
    session = news.session
    if guess is not None and await matching.guess_stands(
        session, programme_id, guess, capacity=capacity
    ):
        return guess, topics
    ranked = await suggesters.ranked(session, programme_id, topics, text)
    with_room = await matching.topics_with_room(session, programme_id, ranked, capacity=capacity)
    return None, with_room or ranked


async def _health_consent_first(
    query: CallbackQuery,
    ticket: Ticket,
    topic: Topic,
    actor: Actor,
    news: TicketNews,
    outbox: Replies,
) -> bool:
    """An author choosing a health topic for a request (it had none, or another) consents to
    health data first, once: asked alone, and the topic is chosen again after the answer; the
    request reaches no mentor of that topic before."""
    if not (topic.health and news.settings.ask_consent and isinstance(query.message, Message)):
        return False
    programme = await news.get(Programme, ticket.programme_id)
    if programme is None or actor.person.id != ticket.author_id:
        return False
    if await consent.has_consent(news.session, actor.person.id, programme, ConsentKind.health):
        return False
    await outbox.callback(
        query, _("This topic is about health: please answer the question below first."),
        show_alert=True,
    )  # fmt: skip
    private = query.message.chat.type == "private"
    await news.outbox.send(
        query.message.chat.id,
        consent_question(programme, ConsentKind.health, topic, actor.language),
        markup=consent_keyboard(programme, ConsentKind.health),
        purpose="consent", person_id=actor.person.id,
        only_for=None if private else actor.person.telegram_id,
    )  # fmt: skip
    return True


async def _over_the_cap(actor: Actor, news: TicketNews) -> tickets.TooManyRequests | None:
    settings = news.settings
    return await tickets.over_the_cap(
        news.session, actor.person, news.now,
        max_open=settings.max_open_requests, per_hour=settings.requests_per_hour,
    )  # fmt: skip


async def acknowledge(
    message: Message,
    ticket: Ticket,
    topic: Topic | None,
    topics: list[Topic],
    actor: Actor,
    news: TicketNews,
    *,
    named: bool,
    quiet: bool,
) -> None:
    """Offer the new ticket to mentors, then answer in the thread with its number. Both go
    out after the commit, so the answer never announces a ticket that was not stored. A
    request with no likely topic waits for its author to choose one (unless it is in triage:
    the general consultants need no topic)."""
    markup = None if named else topic_keyboard(ticket, topics, actor.language)
    # In a quiet group the author alone reads it; everyone sees 👀 on the request.
    only_for = actor.person.telegram_id if quiet else None

    def answer(mentors: int) -> Outgoing:
        return Outgoing(
            message.chat.id,
            ack_text(ticket, topic, actor.language, named=named, mentors=mentors),
            markup=markup,
            reply_to=message.message_id,
            purpose="ticket_ack",
            person_id=ticket.author_id,
            only_for=only_for,
        )

    await news.offer_new(ticket, topic, answer=answer)
    await news.show_state(ticket, "👀")
    await ask_profile_once(news, actor.person, ticket.programme_id, message.chat.id)


# --- the topic buttons -----------------------------------------------------------------------


async def topic_pressed(
    query: CallbackQuery,
    callback_data: TopicButton,
    session: AsyncSession,
    outbox: Replies,
    actor: Actor,
    news: TicketNews,
    now: datetime,
) -> Any:
    try:
        ticket = await tickets.get_ticket(session, callback_data.ticket)
    except DomainError as error:
        return await outbox.callback(query, refusal(error), show_alert=True)
    # Only an active topic of the ticket's own programme: buttons are never trusted.
    topic = await get_topic(session, ticket.programme_id, callback_data.topic)
    if topic is None:
        return await outbox.callback(query, _("This button is not valid."), show_alert=True)
    refused = tickets.topic_refusal(actor, ticket)
    if isinstance(refused, tickets.TopicChosenInTriage):
        return await outbox.callback(query, refusal(refused), show_alert=True)
    if refused is not None:
        return await outbox.callback(
            query,
            _("Only the author of the request or a coordinator can choose its topic."),
            show_alert=True,
        )
    if await _health_consent_first(query, ticket, topic, actor, news, outbox):
        return None
    try:
        changed = await tickets.set_topic(session, ticket, topic, actor, now)
    except DomainError as error:
        return await outbox.callback(query, refusal(error), show_alert=True)
    mentors = 0
    if changed and ticket.status == TicketStatus.open and ticket.in_triage:
        # The general consultants have it whatever its topic: their cards show the new one.
        await news.refresh_cards(ticket)
        mentors = len(await tickets.messages_of(session, ticket.id, TicketMessageKind.card))
    elif changed and ticket.status == TicketStatus.open:
        await news.withdraw_cards(ticket)
        mentors = await news.offer(ticket)
    else:
        mentors = len(await tickets.messages_of(session, ticket.id, TicketMessageKind.card))
    await outbox.callback(query, _("Topic: {topic}").format(topic=topic.title(actor.language)))
    if isinstance(query.message, Message):
        acks = await tickets.messages_of(session, ticket.id, TicketMessageKind.ack)
        # The acknowledgement has the topic buttons; in a quiet group it is ephemeral (its
        # message id is 0 and it is not recorded): the only ephemeral message with them.
        is_ack = query.message.ephemeral_message_id is not None or any(
            (a.chat_telegram_id, a.message_id) == (query.message.chat.id, query.message.message_id)
            for a in acks
        )
        if is_ack:
            author = await news.person(ticket.author_id)
            with news.speaking(author) as language:
                text = ack_text(ticket, topic, language, named=True, mentors=mentors)
            await outbox.edit_message(query.message, text)
        else:
            await outbox.edit_message(
                query.message,
                _("Request {number}: the topic is now {topic}.").format(
                    number=number(ticket), topic=html.escape(topic.title(actor.language))
                ),
            )
    return None


# --- edits of the request message --------------------------------------------------------------


async def request_edited(
    message: Message,
    session: AsyncSession,
    bot: Bot,
    news: TicketNews,
    now: datetime,
    actor: Actor | None = None,
) -> None:
    ticket = await tickets.find_by_request(session, message.chat.id, message.message_id)
    if ticket is None or actor is None or actor.person.id != ticket.author_id:
        return
    me = await bot.me()
    try:
        changed = await tickets.edit_request(
            session, ticket, request_text(content_of(message), me.username), now
        )
    except DomainError:
        # An edit that empties the request keeps the text the mentors already have.
        return
    if not changed:
        return
    if ticket.status == TicketStatus.open:
        await news.refresh_cards(ticket)
    elif ticket.status == TicketStatus.claimed:
        await news.relay_question(
            ticket,
            actor.person,
            _("(edited the request) {text}").format(text=ticket.text),
            [],
            reopened=False,
        )


# --- rating --------------------------------------------------------------------------------------


async def rate_pressed(
    query: CallbackQuery,
    callback_data: RateButton,
    session: AsyncSession,
    outbox: Replies,
    actor: Actor,
    news: TicketNews,
    now: datetime,
) -> Any:
    try:
        ticket = await tickets.get_ticket(session, callback_data.ticket)
        await tickets.rate_ticket(session, ticket, actor.person, callback_data.stars, now)
    except DomainError as error:
        return await outbox.callback(query, refusal(error), show_alert=True)
    await outbox.callback(query, _("Thank you!"))
    if isinstance(query.message, Message):
        if query.message.ephemeral_message_id is None:
            template = _(
                "Thank you! Request {number} is rated {stars}. Reply to this message if you "
                "want to add a comment."
            )
        else:  # a reply to an ephemeral message cannot be told from any other message
            template = _("Thank you! Request {number} is rated {stars}.")
        await outbox.edit_message(
            query.message,
            template.format(
                number=f"<b>{number(ticket)}</b>", stars=stars_text(callback_data.stars)
            ),
        )
    mentor = await news.person(ticket.assignee_id)
    await news.tell_person(
        mentor,
        lambda _language: _("{author} rated your answer on {number}: {stars}.").format(
            author=name(actor.person), number=number(ticket), stars=stars_text(callback_data.stars)
        ),
        about=ticket,
    )
    return None


# --- the private dialogue ------------------------------------------------------------------------


async def start_draft(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    outbox: Replies,
    actor: Actor,
    state: FSMContext,
    suggesters: Suggesters,
    news: TicketNews,
    inbox_update_id: int | None = None,
) -> None:
    await state.clear()
    programmes = tickets.request_programmes(actor)
    if not programmes:
        await outbox.answer(
            message,
            _(
                "You are not in any programme yet. Activists file requests in their "
                "programme's group (/ask there) or after opening me from it."
            ),
        )
        return
    text = (command.args or "").strip()
    files = files_of(message)
    if text or files:
        try:
            text = tickets.clean_text(text)
        except DomainError as error:
            await outbox.answer(message, refusal(error))
            return
        await state.update_data(
            text=text,
            message_id=message.message_id,
            files=[[f.kind, f.file_id, f.file_name] for f in files],
            update_id=inbox_update_id,  # blanked if its author does not consent
        )
    if len(programmes) == 1:
        await state.update_data(programme_id=programmes[0])
        if not await _draft_held(
            message, outbox, news, actor, state, ConsentKind.general, edit=False
        ):
            await _ask_topic(message, session, outbox, actor, state, suggesters)
        return
    markup = draft_programmes_keyboard(await list_programmes(session, programmes))
    await state.set_state(Draft.programme)
    await outbox.answer(message, _("New request. Which programme is it for?"), reply_markup=markup)


async def _say(
    outbox: Replies,
    message: Message,
    text: str,
    markup: InlineKeyboardMarkup | None,
    *,
    edit: bool,
) -> None:
    if edit:
        await outbox.edit_message(message, text, reply_markup=markup)
    else:
        await outbox.answer(message, text, reply_markup=markup)


async def _draft_held(
    message: Message,
    outbox: Replies,
    news: TicketNews,
    actor: Actor,
    state: FSMContext,
    kind: ConsentKind,
    topic: Topic | None = None,
    *,
    edit: bool,
) -> bool:
    """Whether the dialogue waits for the person's consent to the programme's notice (or to
    the processing of health data): then they are asked, and what they wrote stays in the
    dialogue only."""
    data = await state.get_data()
    programme = await news.session.get(Programme, int(data["programme_id"]))
    if (
        programme is None
        or not news.settings.ask_consent
        or await consent.has_consent(news.session, actor.person.id, programme, kind)
    ):
        return False
    await state.update_data(consent_kind=kind.value)
    await state.set_state(Draft.consent)
    text = consent_question(programme, kind, topic, actor.language)
    await _say(outbox, message, text, consent_keyboard(programme, kind), edit=edit)
    return True


async def resume_draft(
    message: Message,
    session: AsyncSession,
    outbox: Replies,
    actor: Actor,
    state: FSMContext,
    suggesters: Suggesters,
) -> None:
    """The dialogue goes on after the person consented: to the topic, or past it."""
    data = await state.get_data()
    if data.get("consent_kind") == ConsentKind.health.value:
        await _after_topic(message, session, outbox, actor, state)
    else:
        await _ask_topic(message, session, outbox, actor, state, suggesters, edit=True)


async def discard_draft(session: AsyncSession, state: FSMContext) -> None:
    """The person did not consent: the dialogue ends, and what they wrote is kept nowhere."""
    update_id = (await state.get_data()).get("update_id")
    if update_id is not None:
        await blank_update(session, int(update_id))
    await state.clear()


async def _ask_topic(
    message: Message,
    session: AsyncSession,
    outbox: Replies,
    actor: Actor,
    state: FSMContext,
    suggesters: Suggesters,
    *,
    edit: bool = False,
) -> None:
    data = await state.get_data()
    topics = await list_topics(session, int(data["programme_id"]))
    suggested = None
    if data.get("text"):
        suggested, _named = await suggesters.choose(
            session, int(data["programme_id"]), topics, data["text"]
        )
    text = _("Choose the topic of your request:")
    if suggested is not None:
        text += "\n" + _("I suggest «{topic}».").format(
            topic=html.escape(suggested.title(actor.language))
        )
    markup = draft_topics_keyboard(topics, actor.language, suggested.id if suggested else None)
    await state.set_state(Draft.topic)
    await _say(outbox, message, text, markup, edit=edit)


async def _ask_confirmation(
    message: Message,
    session: AsyncSession,
    outbox: Replies,
    actor: Actor,
    state: FSMContext,
    *,
    edit: bool,
) -> None:
    data = await state.get_data()
    topic = await get_topic(session, int(data["programme_id"]), int(data["topic_id"]))
    files = len(data.get("files") or [])
    text = _("Your request:\n«{text}»\nTopic: {topic}").format(
        text=quote(data["text"]),
        topic=html.escape(topic.title(actor.language)) if topic else "—",
    )
    if files:
        text += "\n" + _("📎 files: {count}").format(count=files)
    text += "\n\n" + _("Send it to the mentors?")
    await state.set_state(Draft.confirm)
    await _say(outbox, message, text, draft_confirm_keyboard(), edit=edit)


async def _after_topic(
    message: Message, session: AsyncSession, outbox: Replies, actor: Actor, state: FSMContext
) -> None:
    if (await state.get_data()).get("text"):
        await _ask_confirmation(message, session, outbox, actor, state, edit=True)
        return
    await state.set_state(Draft.text)
    await outbox.edit_message(
        message,
        _(
            "Now write your request in one message. You may attach a photo or a "
            "document with a caption."
        ),
        reply_markup=draft_cancel_keyboard(),
    )


async def draft_text(
    message: Message, session: AsyncSession, outbox: Replies, actor: Actor, state: FSMContext
) -> None:
    files = files_of(message)
    try:
        text = tickets.clean_text(content_of(message))
    except DomainError as error:
        await outbox.answer(
            message,
            refusal(error) + "\n" + _("Write your request in one message, or press Cancel."),
        )
        return
    await state.update_data(
        text=text,
        message_id=message.message_id,
        files=[[f.kind, f.file_id, f.file_name] for f in files],
    )
    await _ask_confirmation(message, session, outbox, actor, state, edit=False)


async def cancel_draft(message: Message, outbox: Replies, state: FSMContext) -> None:
    await state.clear()
    await outbox.answer(message, _("Cancelled: nothing was sent."))


async def draft_pressed(
    query: CallbackQuery,
    callback_data: DraftButton,
    session: AsyncSession,
    outbox: Replies,
    actor: Actor,
    state: FSMContext,
    news: TicketNews,
    suggesters: Suggesters,
) -> Any:
    message = query.message
    current = await state.get_state()
    if not isinstance(message, Message) or current is None:
        return await outbox.callback(
            query, _("This dialogue is over. Start a new request with /new."), show_alert=True
        )
    action = callback_data.action
    if action == "cancel":
        await state.clear()
        await outbox.edit_message(message, _("Cancelled: nothing was sent."))
        return None
    if action == "programme" and current == Draft.programme.state:
        if callback_data.value not in tickets.request_programmes(actor):
            return await outbox.callback(query, _("This button is not valid."), show_alert=True)
        await state.update_data(programme_id=callback_data.value)
        if not await _draft_held(
            message, outbox, news, actor, state, ConsentKind.general, edit=True
        ):
            await _ask_topic(message, session, outbox, actor, state, suggesters, edit=True)
        return None
    if action == "topic" and current == Draft.topic.state:
        programme_id = int((await state.get_data())["programme_id"])
        topic = await get_topic(session, programme_id, callback_data.value)
        if topic is None:
            return await outbox.callback(query, _("This button is not valid."), show_alert=True)
        await state.update_data(topic_id=callback_data.value)
        if not topic.health or not await _draft_held(
            message, outbox, news, actor, state, ConsentKind.health, topic, edit=True
        ):
            await _after_topic(message, session, outbox, actor, state)
        return None
    if action == "retopic" and current == Draft.confirm.state:
        await _ask_topic(message, session, outbox, actor, state, suggesters, edit=True)
        return None
    if action == "send" and current == Draft.confirm.state:
        await _send_draft(message, outbox, actor, state, news)
        return None
    return await outbox.callback(query, _("This button is not valid."), show_alert=True)


async def _send_draft(
    message: Message, outbox: Replies, actor: Actor, state: FSMContext, news: TicketNews
) -> None:
    session = news.session
    data = await state.get_data()
    await state.clear()
    programme_id = int(data["programme_id"])
    topic = await get_topic(session, programme_id, int(data["topic_id"]))
    if programme_id not in tickets.request_programmes(actor) or topic is None:
        await outbox.edit_message(
            message, _("This request can no longer be sent. Start again with /new.")
        )
        return
    files = [
        tickets.FileRef(kind, file_id, file_name) for kind, file_id, file_name in data["files"]
    ]
    capped = await _over_the_cap(actor, news)
    if capped is not None:
        await outbox.edit_message(message, refusal(capped))
        return
    try:
        ticket, created = await tickets.open_ticket(
            session,
            programme_id=programme_id,
            author=actor.person,
            text=data["text"],
            chat_telegram_id=message.chat.id,
            message_id=int(data["message_id"]),
            group_id=None,
            topic=topic,
            topic_confirmed=True,
            files=files,
            now=news.now,
        )
    except DomainError as error:
        await outbox.edit_message(message, refusal(error))
        return
    if not created:
        await outbox.edit_message(
            message, _("This request was already sent as {number}.").format(number=number(ticket))
        )
        return
    await record_label(session, ticket, topic, "chosen", news.now)
    mentors = await news.offer_new(ticket, topic)
    await outbox.edit_message(
        message, ack_text(ticket, topic, actor.language, named=True, mentors=mentors)
    )
    await tickets.link_message(
        session, ticket, TicketMessageKind.ack, message.chat.id, news.now,
        message_id=message.message_id, person_id=ticket.author_id,
    )  # fmt: skip
    await ask_profile_once(news, actor.person, programme_id)
