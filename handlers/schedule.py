"""``/schedule``, ``/meetings``, ``/cancel_meeting``, ``/reschedule`` and the RSVP buttons.

A coordinator schedules a conference in a group (for that group) or in private (choosing
groups with toggle buttons); a mentor schedules a call about a ticket they hold with
``/schedule #42 ...``. Without arguments ``/schedule`` asks step by step. Rights are checked
on every command and every press; reminders are planned once the transaction commits.
"""

from __future__ import annotations

import html
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.delivery import Document
from bot.delivery.outbox import FollowUp
from bot.domain import meetings, tickets
from bot.domain.access import Actor
from bot.domain.errors import DomainError, InvalidInput, NotAllowed, NotFound
from bot.domain.meetings import MeetingPlan, Place
from bot.domain.schedule_parser import (
    ScheduleError,
    ScheduleProblem,
    ScheduleRequest,
    TitleRule,
    clean_title,
    parse_schedule,
)
from bot.i18n import locale
from bot.jobs.reminders import ReminderRunner
from bot.news.meetings import MeetingNews
from bot.telegram.replies import Replies
from bot.time.zones import zone
from bot.views.calendar import meetings_ics
from bot.views.dates import zone_text
from bot.views.meetings import (
    DraftAction,
    GroupToggle,
    ProgrammeGroups,
    RsvpButton,
    confirm_keyboard,
    day_keyboard,
    draft_text,
    duration_keyboard,
    group_picker,
    local_time,
    meeting_line,
    problem_text,
)
from handlers.common import NotCommand, in_group, invalid_button, parse_number
from models import GroupChat, Meeting, Person

# Every callback prefix of meetings: a press with one that no handler accepts is answered.
PREFIXES = frozenset({"mr", "mg", "mp", "ms"})
LIST_LIMIT = 10


class ScheduleDraft(StatesGroup):
    when = State()
    title = State()
    duration = State()
    confirm = State()  # in private: choosing groups; in a group: the announce button


@dataclass
class Draft:
    """A meeting being put together in the dialogue, kept in the FSM storage as plain data."""

    group_id: int | None = None  # the group the dialogue runs in, None in private
    day: int | None = None  # days from today, chosen with a button
    starts_at: str | None = None  # ISO, UTC
    zone: str | None = None
    duration: int | None = None  # minutes
    link: str | None = None
    title: str = ""
    chosen: list[int] = field(default_factory=list)

    @classmethod
    async def load(cls, state: FSMContext) -> Draft | None:
        data = await state.get_data()
        draft = data.get("meeting_draft")
        return cls(**draft) if isinstance(draft, dict) else None

    async def save(self, state: FSMContext) -> None:
        await state.update_data(meeting_draft=asdict(self))

    def take(self, request: ScheduleRequest) -> None:
        self.starts_at = request.starts_at.isoformat()
        self.zone = request.zone
        if request.duration is not None:
            self.duration = int(request.duration.total_seconds() // 60)
        if request.link is not None:
            self.link = request.link
        if request.title:
            self.title = request.title

    def plan(self) -> MeetingPlan:
        if self.starts_at is None or self.zone is None:
            raise InvalidInput("the draft has no time")
        return MeetingPlan(
            title=self.title,
            starts_at=datetime.fromisoformat(self.starts_at),
            zone=self.zone,
            duration=timedelta(minutes=self.duration) if self.duration else None,
            link=self.link,
        )


def router() -> Router:
    router = Router(name="schedule")
    drafting = StateFilter(*ScheduleDraft.__all_states__)
    router.message.register(cancel_draft, Command("cancel"), drafting)
    router.message.register(schedule, Command("schedule"))
    router.message.register(draft_when, StateFilter(ScheduleDraft.when), F.text, NotCommand())
    router.message.register(draft_title, StateFilter(ScheduleDraft.title), F.text, NotCommand())
    router.message.register(list_meetings, Command("meetings"))
    router.message.register(cancel_meeting, Command("cancel_meeting"))
    router.message.register(reschedule, Command("reschedule"))
    router.callback_query.register(rsvp_pressed, RsvpButton.filter())
    router.callback_query.register(group_toggled, GroupToggle.filter())
    router.callback_query.register(programme_chosen, ProgrammeGroups.filter())
    router.callback_query.register(draft_pressed, DraftAction.filter())
    router.callback_query.register(
        invalid_button, F.data.func(lambda data: str(data).split(":", 1)[0] in PREFIXES)
    )
    return router


@dataclass
class Tools:
    """What scheduling handlers need besides the update: built from the dispatcher's data."""

    session: AsyncSession
    outbox: Replies
    actor: Actor
    settings: Settings
    i18n: I18n
    now: datetime
    runner: ReminderRunner

    def news(self) -> MeetingNews:
        return MeetingNews(self.session, self.outbox, self.i18n, self.settings, self.now)

    def default_zone(self, group: GroupChat | None) -> str:
        """The author's zone, else the chat's, else the deployment's."""
        return (
            self.actor.person.timezone
            or (group.timezone if group is not None else None)
            or self.settings.default_timezone
        )


def tools(data: dict[str, Any]) -> Tools:
    scheduler: AsyncIOScheduler = data["scheduler"]
    session_factory: async_sessionmaker[AsyncSession] = data["session_factory"]
    return Tools(
        session=data["session"],
        outbox=data["outbox"],
        actor=data["actor"],
        settings=data["settings"],
        i18n=data["i18n"],
        now=data["now"],
        runner=ReminderRunner(
            scheduler,
            session_factory,
            data["sender"],
            data["i18n"],
            data["settings"],
            clock=data["clock"],
        ),
    )


def refusal(error: DomainError) -> str:
    if isinstance(error, ScheduleError):
        return problem_text(error)
    if isinstance(error, NotFound):
        return _("There is no such meeting.")
    if isinstance(error, NotAllowed):
        return _("Only the programme's coordinators or the meeting's organiser can do this.")
    if isinstance(error, meetings.SlotBusy):
        return _("Another consultation is booked with this mentor at that time.")
    return _("This meeting is over or cancelled, so it cannot be changed.")


# --- /schedule -------------------------------------------------------------------------------


async def schedule(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    group: GroupChat | None = None,
    **data: Any,
) -> None:
    t = tools(data)
    args = (command.args or "").strip()
    if args.startswith("#"):
        await state.clear()
        await schedule_ticket_call(message, args, t)
        return
    if in_group(message):
        if group is None or group.programme_id is None:
            return
        if not t.actor.coordinates(group.programme_id):
            await t.outbox.reply(
                message,
                _(
                    "Only this programme's coordinators can schedule video conferences. "
                    "A mentor can schedule a call about a request they hold: "
                    "/schedule #42 date time."
                ),
            )
            return
    elif not await meetings.schedulable_groups(t.session, t.actor):
        await t.outbox.answer(
            message,
            _(
                "Video conferences are scheduled by programme coordinators. A mentor can "
                "schedule a call about a request they hold: /schedule #42 date time."
            ),
        )
        return
    await state.clear()
    draft = Draft(group_id=group.id if in_group(message) and group is not None else None)
    if not args:
        await start_dialogue(message, state, draft, t)
        return
    try:
        request = parse_schedule(args, now=t.now, default_zone=t.default_zone(group))
    except ScheduleError as error:
        await t.outbox.reply(message, problem_text(error))
        return
    draft.take(request)
    if in_group(message) and group is not None:
        await announce_for_groups(message, t, [group], draft.plan())
        return
    await show_group_picker(message, state, draft, t, edit=False)


async def start_dialogue(message: Message, state: FSMContext, draft: Draft, t: Tools) -> None:
    await draft.save(state)
    await state.set_state(ScheduleDraft.when)
    text = _(
        "Let's schedule a video conference. When? Choose the day, or write the date and time, "
        "for example 27.02 15:00 MSK. /cancel stops."
    )
    if in_group(message):
        text += "\n" + _("Answer by replying to my messages.")
    await t.outbox.reply(message, text, reply_markup=day_keyboard())


async def draft_when(
    message: Message, state: FSMContext, group: GroupChat | None = None, **data: Any
) -> None:
    t = tools(data)
    draft = await Draft.load(state)
    if draft is None:
        await state.clear()
        return
    text = message.text or ""
    default_zone = t.default_zone(group)
    try:
        request = _read_when(text, draft, default_zone, t.now)
    except ScheduleError as error:
        await t.outbox.reply(message, problem_text(error))
        return
    draft.take(request)
    await draft.save(state)
    await ask_next(message, state, draft, t, edit=False)


def _read_when(text: str, draft: Draft, default_zone: str, now: datetime) -> ScheduleRequest:
    try:
        return parse_schedule(text, now=now, default_zone=default_zone, title=TitleRule.optional)
    except ScheduleError as error:
        if draft.day is None or error.problem not in (
            ScheduleProblem.no_date,
            ScheduleProblem.bad_time,
        ):
            raise
    # Only a time was written after a day button: put the chosen day in front of it.
    day = now.astimezone(zone(default_zone)).date() + timedelta(days=draft.day)
    return parse_schedule(
        f"{day:%d.%m.%Y} {text}", now=now, default_zone=default_zone, title=TitleRule.optional
    )


async def draft_title(message: Message, state: FSMContext, **data: Any) -> None:
    t = tools(data)
    draft = await Draft.load(state)
    if draft is None:
        await state.clear()
        return
    try:
        draft.title = clean_title(message.text or "")
    except ScheduleError as error:
        await t.outbox.reply(message, problem_text(error))
        return
    await draft.save(state)
    await ask_next(message, state, draft, t, edit=False)


async def ask_next(
    message: Message, state: FSMContext, draft: Draft, t: Tools, *, edit: bool
) -> None:
    """The dialogue's next question: the title, the duration, then the groups or a confirm."""
    if not draft.title:
        await state.set_state(ScheduleDraft.title)
        await _say(message, t, _("What is the meeting called?"), edit=edit)
        return
    if draft.duration is None:
        await state.set_state(ScheduleDraft.duration)
        await _say(message, t, _("How long will it last?"), edit=edit, markup=duration_keyboard())
        return
    if draft.group_id is None:
        await show_group_picker(message, state, draft, t, edit=edit)
        return
    await state.set_state(ScheduleDraft.confirm)
    plan = draft.plan()
    text = draft_text(
        plan.title,
        plan.starts_at,
        plan.zone,
        plan.duration or meetings.DEFAULT_DURATION,
        plan.link,
        t.actor.language,
    )
    await _say(message, t, text, edit=edit, markup=confirm_keyboard())


async def _say(message: Message, t: Tools, text: str, *, edit: bool, markup: Any = None) -> None:
    if edit:
        await t.outbox.edit_message(message, text, reply_markup=markup)
    else:
        await t.outbox.reply(message, text, reply_markup=markup)


async def show_group_picker(
    message: Message, state: FSMContext, draft: Draft, t: Tools, *, edit: bool
) -> None:
    groups = await meetings.schedulable_groups(t.session, t.actor)
    if len(groups) == 1 and not draft.chosen:
        draft.chosen = [groups[0].id]
    await draft.save(state)
    await state.set_state(ScheduleDraft.confirm)
    titles = await meetings.programme_titles(
        t.session, [g.programme_id for g in groups if g.programme_id is not None]
    )
    plan = draft.plan()
    text = (
        draft_text(
            plan.title,
            plan.starts_at,
            plan.zone,
            plan.duration or meetings.DEFAULT_DURATION,
            plan.link,
            t.actor.language,
        )
        + "\n\n"
        + _("Which groups is it for? Tap to choose, then «Announce».")
    )
    await _say(message, t, text, edit=edit, markup=group_picker(groups, set(draft.chosen), titles))


async def cancel_draft(message: Message, state: FSMContext, outbox: Replies) -> None:
    await state.clear()
    await outbox.reply(message, _("Scheduling cancelled; nothing was announced."))


async def announce_for_groups(
    message: Message, t: Tools, groups: list[GroupChat], plan: MeetingPlan
) -> Meeting | None:
    try:
        meeting = await meetings.schedule_for_groups(
            t.session,
            t.actor,
            groups,
            plan,
            offsets=t.settings.reminder_offsets,
            video_base_url=t.settings.video_base_url,
            now=t.now,
        )
    except NotAllowed:
        await t.outbox.answer(
            message, _("Only this programme's coordinators can schedule conferences.")
        )
        return None
    except InvalidInput:
        await t.outbox.answer(
            message, _("This moment has already passed; start again with /schedule.")
        )
        return None
    organiser = message.chat.id

    def if_missed(place: Place) -> FollowUp:
        # Said to the organiser only if Telegram refuses the announcement in that group.
        text = _("I could not post the announcement in: {groups}. Am I still a member there?")
        return FollowUp(organiser, text.format(groups=html.escape(place.title)))

    await t.news().announce(meeting, if_missed=if_missed)
    t.runner.plan_after_commit(t.session, await meetings.pending_of(t.session, meeting.id))
    return meeting


# --- the dialogue's buttons ------------------------------------------------------------------


async def draft_pressed(
    query: CallbackQuery,
    callback_data: DraftAction,
    state: FSMContext,
    group: GroupChat | None = None,
    **data: Any,
) -> None:
    t = tools(data)
    message = query.message
    draft = await Draft.load(state)
    if not isinstance(message, Message) or draft is None:
        await t.outbox.callback(
            query,
            _("Only the person scheduling this meeting can press this, until they finish."),
            show_alert=True,
        )
        return
    action = callback_data.action
    if action == "cancel":
        await state.clear()
        await t.outbox.callback(query)
        await t.outbox.edit_message(message, _("Scheduling cancelled; nothing was announced."))
        return
    if action == "day" and callback_data.value in (0, 1, 2):
        draft.day = callback_data.value
        await draft.save(state)
        await t.outbox.callback(query)
        day = t.now.astimezone(zone(t.default_zone(group))).date() + timedelta(days=draft.day)
        await t.outbox.edit_message(
            message,
            _("{day}: at what time? For example 15:00, or 15:00 Omsk.").format(
                day=f"{day:%d.%m.%Y}"
            ),
        )
        return
    if action == "duration" and 5 <= callback_data.value <= 12 * 60:
        draft.duration = callback_data.value
        await draft.save(state)
        await t.outbox.callback(query)
        await ask_next(message, state, draft, t, edit=True)
        return
    if action == "announce" and draft.starts_at is not None and draft.title:
        await announce_draft(query, message, state, draft, t)
        return
    await t.outbox.callback(query, _("This button is not valid."), show_alert=True)


async def announce_draft(
    query: CallbackQuery, message: Message, state: FSMContext, draft: Draft, t: Tools
) -> None:
    ids = [draft.group_id] if draft.group_id is not None else draft.chosen
    allowed = {g.id: g for g in await meetings.schedulable_groups(t.session, t.actor)}
    groups = [allowed[i] for i in ids if i in allowed]
    if not groups:
        await t.outbox.callback(query, _("Choose at least one group."), show_alert=True)
        return
    if len({g.programme_id for g in groups}) > 1:
        await t.outbox.callback(query, _("Choose groups of one programme."), show_alert=True)
        return
    plan = draft.plan()
    if plan.starts_at <= t.now:
        await t.outbox.callback(query, _("This moment has already passed."), show_alert=True)
        return
    meeting = await announce_for_groups(message, t, groups, plan)
    if meeting is None:
        return
    await state.clear()
    await t.outbox.callback(query)
    if draft.group_id is not None:
        await t.outbox.edit_message(message, _("📣 Announced meeting #{n}.").format(n=meeting.id))
        return
    await t.outbox.edit_message(
        message,
        _("📣 Announced meeting #{n} in: {groups}.").format(
            n=meeting.id, groups=", ".join(html.escape(g.title) for g in groups)
        ),
    )
    await send_own_ics(message, t, meeting)


async def send_own_ics(message: Message, t: Tools, meeting: Meeting) -> None:
    await t.outbox.answer_file(message, t.news().ics(meeting, t.actor.language))


async def group_toggled(
    query: CallbackQuery, callback_data: GroupToggle, state: FSMContext, **data: Any
) -> None:
    t = tools(data)
    draft = await Draft.load(state)
    message = query.message
    if draft is None or draft.group_id is not None or not isinstance(message, Message):
        await t.outbox.callback(
            query,
            _("Only the person scheduling this meeting can press this, until they finish."),
            show_alert=True,
        )
        return
    allowed = {g.id for g in await meetings.schedulable_groups(t.session, t.actor)}
    if callback_data.group not in allowed:
        await t.outbox.callback(query, _("This button is not valid."), show_alert=True)
        return
    chosen = set(draft.chosen) ^ {callback_data.group}
    draft.chosen = sorted(chosen)
    await t.outbox.callback(query)
    await show_group_picker(message, state, draft, t, edit=True)


async def programme_chosen(
    query: CallbackQuery, callback_data: ProgrammeGroups, state: FSMContext, **data: Any
) -> None:
    t = tools(data)
    draft = await Draft.load(state)
    message = query.message
    if draft is None or draft.group_id is not None or not isinstance(message, Message):
        await t.outbox.callback(
            query,
            _("Only the person scheduling this meeting can press this, until they finish."),
            show_alert=True,
        )
        return
    groups = [
        g
        for g in await meetings.schedulable_groups(t.session, t.actor)
        if g.programme_id == callback_data.programme
    ]
    if not groups:
        await t.outbox.callback(query, _("This button is not valid."), show_alert=True)
        return
    draft.chosen = sorted(g.id for g in groups)
    await t.outbox.callback(query)
    await show_group_picker(message, state, draft, t, edit=True)


# --- a mentor's call about a ticket ----------------------------------------------------------


async def schedule_ticket_call(message: Message, args: str, t: Tools) -> None:
    number, rest = parse_number(args)
    if number is None:
        await t.outbox.reply(message, _("Write the request's number: /schedule #42 27.02 15:00"))
        return
    try:
        ticket = await tickets.get_ticket(t.session, number)
    except NotFound:
        await t.outbox.reply(message, _("There is no request #{n}.").format(n=number))
        return
    if not meetings.may_call_about(t.actor, ticket):
        await t.outbox.reply(
            message,
            _("Only the mentor who holds request #{n} can schedule a call about it.").format(
                n=number
            ),
        )
        return
    default_zone = t.actor.person.timezone or t.settings.default_timezone
    try:
        request = parse_schedule(
            rest, now=t.now, default_zone=default_zone, title=TitleRule.optional
        )
    except ScheduleError as error:
        await t.outbox.reply(message, problem_text(error))
        return
    plan = MeetingPlan(
        title=request.title or _("Call about request #{n}").format(n=ticket.id),
        starts_at=request.starts_at,
        zone=request.zone,
        duration=request.duration,
        link=request.link,
    )
    meeting = await meetings.schedule_ticket_call(
        t.session,
        t.actor,
        ticket,
        plan,
        offsets=t.settings.reminder_offsets,
        video_base_url=t.settings.video_base_url,
        now=t.now,
    )
    author = await t.session.get(Person, ticket.author_id)
    note = await _call_note_in_group(t, ticket.group_id, ticket.request_message_id, meeting, author)
    # If the author never opened a chat with the bot, the group hears how to get the link.
    await t.news().announce(meeting, if_missed=lambda _place: note)
    t.runner.plan_after_commit(t.session, await meetings.pending_of(t.session, meeting.id))
    name = html.escape(author.display_name if author is not None else "—")
    # In the zone the mentor typed the time in: that is the time they have in mind.
    when = local_time(meeting.starts_at, meeting.zone, t.actor.language)
    text = _("📞 Call #{n} about request #{ticket} with {author}: {when}.\n🔗 {link}").format(
        n=meeting.id, ticket=ticket.id, author=name, when=when, link=html.escape(meeting.video_url)
    )
    if author is not None and not author.private_chat_open:
        text += "\n" + _(
            "I could not write to {author} in private (they have not opened a chat with me). "
            "I asked them in the group to open it; they will find the call in /meetings."
        ).format(author=name)
    await t.outbox.answer(message, text)
    if not in_group(message):
        await send_own_ics(message, t, meeting)


async def _call_note_in_group(
    t: Tools, group_id: int | None, request_message_id: int, meeting: Meeting, author: Person | None
) -> FollowUp | None:
    """What the request's group hears if the author cannot be told of the call in private."""
    group = await t.session.get(GroupChat, group_id) if group_id is not None else None
    if group is None or author is None:
        return None
    language = group.language or t.settings.default_language
    zone_name = group.timezone or t.settings.default_timezone
    with locale(t.i18n, language):
        text = _(
            "{author}, the mentor has scheduled a call about your request #{ticket} for {when}. "
            "Open a private chat with me to get the link and reminders: /meetings."
        ).format(
            author=html.escape(author.display_name),
            ticket=meeting.ticket_id,
            when=local_time(meeting.starts_at, zone_name, language),
        )
    return FollowUp(
        group.telegram_id, text, reply_to=request_message_id, purpose="meeting_call_note"
    )


# --- RSVP ------------------------------------------------------------------------------------


async def rsvp_pressed(query: CallbackQuery, callback_data: RsvpButton, **data: Any) -> None:
    t = tools(data)
    message = query.message
    if not isinstance(message, Message) or callback_data.coming not in (0, 1):
        await t.outbox.callback(query, _("This button is not valid."), show_alert=True)
        return
    try:
        meeting = await meetings.get_meeting(t.session, callback_data.meeting)
    except NotFound:
        await t.outbox.callback(query, _("This button is not valid."), show_alert=True)
        return
    person = t.actor.person
    if not await meetings.may_answer(t.session, meeting, message.chat.id, person):
        await t.outbox.callback(query, _("This meeting is not for this chat."), show_alert=True)
        return
    coming = callback_data.coming == 1
    try:
        changed = await meetings.answer(t.session, meeting, person, coming, t.now)
    except InvalidInput:
        await t.outbox.callback(query, _("This meeting is over or cancelled."), show_alert=True)
        return
    if changed:
        await t.news().refresh_buttons(meeting)
    if not coming:
        await t.outbox.callback(query, _("Noted: you cannot come."))
        return
    if person.private_chat_open or message.chat.id == person.telegram_id:
        await t.outbox.callback(query, _("Noted: you will come. I will remind you in private."))
        return
    await t.outbox.callback(
        query,
        _(
            "Noted: you will come. To get reminders in private, open a chat with me "
            "and press Start."
        ),
        show_alert=True,
    )


# --- /meetings, /cancel_meeting, /reschedule -------------------------------------------------


async def list_meetings(message: Message, group: GroupChat | None = None, **data: Any) -> None:
    t = tools(data)
    if in_group(message):
        if group is None or group.programme_id is None:
            return
        found = await meetings.upcoming(t.session, t.actor, t.now, group=group, limit=LIST_LIMIT)
        zone_name = group.timezone or t.settings.default_timezone
    else:
        found = await meetings.upcoming(t.session, t.actor, t.now, limit=LIST_LIMIT)
        zone_name = t.actor.person.timezone or t.settings.default_timezone
    # In a group, an answer to the one who asked (in a quiet group, for them alone).
    say = t.outbox.reply if in_group(message) else t.outbox.answer
    if not found:
        await say(message, _("No upcoming meetings."))
        return
    lines = [_("Upcoming meetings, times for {zone}:").format(zone=zone_text(zone_name))]
    for meeting in found:
        counts = await meetings.counts(t.session, meeting.id)
        lines.append(meeting_line(meeting, zone_name, t.actor.language, counts))
    if any(meetings.may_manage(t.actor, meeting) for meeting in found):
        lines.append(_("Change: /reschedule N date time · cancel: /cancel_meeting N"))
    elif any(meetings.may_cancel(t.actor, meeting) for meeting in found):
        lines.append(
            _("A booked consultation: move it with /reschedule N, cancel: /cancel_meeting N")
        )
    await say(message, "\n\n".join(lines))
    if not in_group(message):
        # All of them at once, for the person's own calendar.
        calendar = meetings_ics(found, now=t.now, name=_("MentorDesk meetings"))
        await t.outbox.answer_file(message, Document(filename="meetings.ics", content=calendar))


async def cancel_meeting(message: Message, command: CommandObject, **data: Any) -> None:
    t = tools(data)
    number, _rest = parse_number(command.args or "")
    if number is None:
        await t.outbox.reply(
            message, _("Write the meeting's number: /cancel_meeting 7 (see /meetings).")
        )
        return
    try:
        meeting = await meetings.get_meeting(t.session, number)
        dropped = await meetings.cancel_meeting(t.session, meeting, t.actor, t.now)
    except DomainError as error:
        await t.outbox.reply(message, refusal(error))
        return
    heard = await t.news().announce_cancelled(meeting, t.actor.person.display_name)
    t.runner.plan_after_commit(t.session, [], drop=dropped)
    await t.outbox.reply(
        message,
        _("Meeting #{n} is cancelled; {count} chats were told.").format(n=meeting.id, count=heard),
    )


async def reschedule(
    message: Message, command: CommandObject, group: GroupChat | None = None, **data: Any
) -> None:
    t = tools(data)
    number, rest = parse_number(command.args or "")
    if number is None or not rest:
        await t.outbox.reply(
            message,
            _("Write the meeting's number and the new date and time: /reschedule 7 28.02 16:00"),
        )
        return
    try:
        meeting = await meetings.get_meeting(t.session, number)
        if not meetings.may_manage(t.actor, meeting):
            raise NotAllowed("not your meeting")
        request = parse_schedule(rest, now=t.now, default_zone=meeting.zone, title=TitleRule.none)
        previous = meeting.starts_at
        pending = await meetings.reschedule_meeting(
            t.session,
            meeting,
            t.actor,
            request.starts_at,
            request.zone,
            t.now,
            duration=request.duration,
        )
    except DomainError as error:
        await t.outbox.reply(message, refusal(error))
        return
    heard = await t.news().announce_moved(meeting, previous, t.actor.person)
    t.runner.plan_after_commit(t.session, pending, drop=[r.id for r in pending])
    counts = await meetings.counts(t.session, meeting.id)
    zone_name = t.default_zone(group if in_group(message) else None)
    await t.outbox.reply(
        message,
        _(
            "Meeting #{n} moved to {when}; {count} chats were told. Answers are kept: "
            "{coming} will come, {not_coming} cannot."
        ).format(
            n=meeting.id,
            when=local_time(meeting.starts_at, zone_name, t.actor.language),
            count=heard,
            coming=counts.coming,
            not_coming=counts.not_coming,
        ),
    )
