"""How meetings look in Telegram: button data, keyboards and texts, in the current language.

Times are shown in the zone of whoever reads them (a group's zone in a group, the person's in
private) with the zone named, and the zone the meeting was set in alongside when it differs.
Callback data carries ids only; handlers load the meeting again and check the presser.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime, timedelta

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder
from babel.dates import format_datetime

from bot.domain.meetings import CallAbout, RsvpCounts
from bot.domain.schedule_parser import (
    ACCEPTED_FORMS,
    MAX_DURATION,
    MAX_TITLE,
    MIN_DURATION,
    ScheduleError,
    ScheduleProblem,
)
from bot.time.zones import zone, zone_label
from models import GroupChat, Meeting

DATE_PATTERN = "EEE d MMMM y"


class RsvpButton(CallbackData, prefix="mr"):
    meeting: int
    coming: int  # 1 yes, 0 no


class GroupToggle(CallbackData, prefix="mg"):
    """A group switched on or off in the private /schedule dialogue."""

    group: int


class ProgrammeGroups(CallbackData, prefix="mp"):
    """Every group of one programme at once."""

    programme: int


class DraftAction(CallbackData, prefix="ms"):
    """Steps of the /schedule dialogue: announce, cancel, a day, a duration."""

    action: str
    value: int = 0


# --- pieces ------------------------------------------------------------------------------


def local_time(moment: datetime, zone_name: str, language: str) -> str:
    """``сб 27 февраля 2027, 15:00 МСК`` in the given zone and language."""
    local = moment.astimezone(zone(zone_name))
    clock = "HH:mm:ss" if local.second else "HH:mm"
    text = format_datetime(local, f"{DATE_PATTERN}, {clock}", locale=language)
    return f"{text} {zone_label(zone_name, language, moment)}"


def clock_time(moment: datetime, zone_name: str, language: str) -> str:
    """Only the time of day and zone: ``18:00 Омск (UTC+6)``."""
    local = moment.astimezone(zone(zone_name))
    clock = local.strftime("%H:%M:%S" if local.second else "%H:%M")
    return f"{clock} {zone_label(zone_name, language, moment)}"


def duration_text(value: timedelta) -> str:
    minutes = int(value.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    if hours and minutes:
        return _("{hours} h {minutes} min").format(hours=hours, minutes=minutes)
    if hours:
        return _("{hours} h").format(hours=hours)
    return _("{minutes} min").format(minutes=minutes)


def time_left(value: timedelta) -> str:
    """How soon: ``in 24 h``, ``in 10 min``, ``in less than a minute``, ``in 3 d``."""
    minutes = round(value.total_seconds() / 60)
    if minutes < 1:
        return _("in less than a minute")
    if minutes < 48 * 60:
        return _("in {duration}").format(duration=duration_text(timedelta(minutes=minutes)))
    return _("in {days} d").format(days=round(minutes / (24 * 60)))


def title_of(meeting: Meeting) -> str:
    return f"<b>{html.escape(meeting.title)}</b>"


def when_lines(meeting: Meeting, zone_name: str, language: str) -> list[str]:
    """The meeting's time in the reader's zone, and in the zone it was set in if different."""
    lines = ["🕒 " + local_time(meeting.starts_at, zone_name, language)]
    here = zone_label(zone_name, language, meeting.starts_at)
    if zone_label(meeting.zone, language, meeting.starts_at) != here:
        lines.append("      " + _("({time} for the organiser)").format(
            time=clock_time(meeting.starts_at, meeting.zone, language)
        ))  # fmt: skip
    return lines


def details(meeting: Meeting, zone_name: str, language: str) -> list[str]:
    return [
        *when_lines(meeting, zone_name, language),
        "⏱ " + duration_text(meeting.duration),
        "🔗 " + html.escape(meeting.video_url),
    ]


# --- messages ----------------------------------------------------------------------------


def announcement_text(
    meeting: Meeting, zone_name: str, language: str, *, host: str | None = None
) -> str:
    if meeting.ticket_id is not None:
        head = _("📞 Call about request #{ticket}: {title}").format(
            ticket=meeting.ticket_id, title=title_of(meeting)
        )
    else:
        head = _("📅 {title}").format(title=title_of(meeting))
    lines = [head, *details(meeting, zone_name, language)]
    if host:
        lines.append(_("Mentor: {name}").format(name=html.escape(host)))
    lines.append(_("Meeting {n}. Will you come? The calendar file is below.").format(
        n=f"#{meeting.id}"
    ))  # fmt: skip
    return "\n".join(lines)


# --- to the host of a booked consultation: who booked it and for what, never "will you come?"


def _request_label(call: CallAbout, language: str) -> str:
    """``#12 «Legal questions»``: the request's number and topic."""
    topic = html.escape(call.topic.title(language)) if call.topic is not None else _("no topic")
    return f"#{call.ticket_id} «{topic}»"


def _activist_line(call: CallAbout) -> str:
    name = call.activist.display_name if call.activist is not None else "—"
    return _("Activist: {name}").format(name=html.escape(name))


def host_booked_text(meeting: Meeting, call: CallAbout, zone_name: str, language: str) -> str:
    return "\n".join(
        [
            _("📞 A consultation was booked with you: request {request}").format(
                request=_request_label(call, language)
            ),
            _activist_line(call),
            *details(meeting, zone_name, language),
            _("Meeting #{n}. The calendar file is below.").format(n=meeting.id),
        ]
    )


def host_moved_text(
    meeting: Meeting,
    call: CallAbout,
    previous: datetime,
    by: str,
    zone_name: str,
    language: str,
) -> str:
    return "\n".join(
        [
            _("🔁 The consultation on request {request} was moved to {time} (it was {previous}).")
            .format(
                request=_request_label(call, language),
                time=local_time(meeting.starts_at, zone_name, language),
                previous=local_time(previous, zone_name, language),
            ),
            _activist_line(call),
            _("Moved by: {name}").format(name=html.escape(by)),
            *details(meeting, zone_name, language),
        ]
    )  # fmt: skip


def host_cancelled_text(
    meeting: Meeting, call: CallAbout, by: str | None, zone_name: str, language: str
) -> str:
    """``by``: who cancelled it; None when a participant asked to erase their data."""
    return "\n".join(
        [
            _("🚫 The consultation on request {request}, planned for {time}, is cancelled.").format(
                request=_request_label(call, language),
                time=local_time(meeting.starts_at, zone_name, language),
            ),
            _activist_line(call),
            _("Cancelled by: {name}").format(name=html.escape(by))
            if by is not None
            else _("Reason: a participant asked to erase their data."),
        ]
    )


def rsvp_keyboard(meeting: Meeting, counts: RsvpCounts) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=_("✅ I will come · {count}").format(count=counts.coming),
        callback_data=RsvpButton(meeting=meeting.id, coming=1),
    )
    builder.button(
        text=_("❌ I cannot · {count}").format(count=counts.not_coming),
        callback_data=RsvpButton(meeting=meeting.id, coming=0),
    )
    return builder.as_markup()


def reminder_text(meeting: Meeting, zone_name: str, language: str, now: datetime) -> str:
    return "\n".join(
        [
            _("⏰ Reminder: {title} starts {left}.").format(
                title=title_of(meeting), left=time_left(meeting.starts_at - now)
            ),
            *details(meeting, zone_name, language),
        ]
    )


def cancelled_text(meeting: Meeting, zone_name: str, language: str) -> str:
    return _(
        "🚫 Cancelled: {title}, which was planned for {time}. There will be no reminders."
    ).format(title=title_of(meeting), time=local_time(meeting.starts_at, zone_name, language))


def cancelled_announcement(meeting: Meeting, zone_name: str, language: str) -> str:
    return (
        _("🚫 Cancelled")
        + "\n<s>"
        + html.escape(meeting.title)
        + "</s> · "
        + html.escape(local_time(meeting.starts_at, zone_name, language))
    )


def moved_text(
    meeting: Meeting, previous: datetime, counts: RsvpCounts, zone_name: str, language: str
) -> str:
    return "\n".join(
        [
            _("🔁 Moved: {title} is now on {time} (it was {previous}).").format(
                title=title_of(meeting),
                time=local_time(meeting.starts_at, zone_name, language),
                previous=local_time(previous, zone_name, language),
            ),
            *details(meeting, zone_name, language),
            _(
                "Answers are kept: {coming} will come, {not_coming} cannot. "
                "Change yours with the buttons if the new time does not suit you."
            ).format(coming=counts.coming, not_coming=counts.not_coming),
        ]
    )


def meeting_line(meeting: Meeting, zone_name: str, language: str, counts: RsvpCounts) -> str:
    kind = "📞" if meeting.ticket_id is not None else "📅"
    return "\n".join(
        [
            f"{kind} <b>#{meeting.id}</b> {html.escape(meeting.title)}",
            *details(meeting, zone_name, language),
            _("✅ {coming} · ❌ {not_coming}").format(
                coming=counts.coming, not_coming=counts.not_coming
            ),
        ]
    )


def group_picker(
    groups: Sequence[GroupChat], chosen: set[int], programmes: dict[int, str]
) -> InlineKeyboardMarkup:
    """Toggle buttons for each group, one "all groups" button per programme, announce, cancel."""
    builder = InlineKeyboardBuilder()
    several = len(programmes) > 1
    for group in groups:
        mark = "✅" if group.id in chosen else "▫️"
        label = group.title or str(group.telegram_id)
        if several and group.programme_id is not None:
            label = f"{label} · {programmes.get(group.programme_id, '')}"
        builder.button(text=f"{mark} {label}"[:60], callback_data=GroupToggle(group=group.id))
    for programme_id, title in programmes.items():
        text = (
            _("All groups of «{programme}»").format(programme=title) if several else _("All groups")
        )
        builder.button(text=text[:60], callback_data=ProgrammeGroups(programme=programme_id))
    builder.button(text=_("📣 Announce"), callback_data=DraftAction(action="announce"))
    builder.button(text=_("Cancel"), callback_data=DraftAction(action="cancel"))
    builder.adjust(1)
    return builder.as_markup()


def confirm_keyboard() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=_("📣 Announce"), callback_data=DraftAction(action="announce"))
    builder.button(text=_("Cancel"), callback_data=DraftAction(action="cancel"))
    builder.adjust(2)
    return builder.as_markup()


DAY_CHOICES = (0, 1, 2)
DURATION_CHOICES = (30, 60, 90, 120)


def day_keyboard() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    names = {0: _("Today"), 1: _("Tomorrow"), 2: _("Day after tomorrow")}
    for days in DAY_CHOICES:
        builder.button(text=names[days], callback_data=DraftAction(action="day", value=days))
    builder.button(text=_("Cancel"), callback_data=DraftAction(action="cancel"))
    builder.adjust(3, 1)
    return builder.as_markup()


def duration_keyboard() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for minutes in DURATION_CHOICES:
        builder.button(
            text=duration_text(timedelta(minutes=minutes)),
            callback_data=DraftAction(action="duration", value=minutes),
        )
    builder.button(text=_("Cancel"), callback_data=DraftAction(action="cancel"))
    builder.adjust(4, 1)
    return builder.as_markup()


def draft_text(
    title: str,
    starts_at: datetime,
    zone_name: str,
    duration: timedelta,
    link: str | None,
    language: str,
) -> str:
    lines = [
        _("📅 {title}").format(title=f"<b>{html.escape(title)}</b>"),
        "🕒 " + local_time(starts_at, zone_name, language),
        "⏱ " + duration_text(duration),
        "🔗 " + (html.escape(link) if link else _("a new video room will be created")),
    ]
    return "\n".join(lines)


# --- explanations ------------------------------------------------------------------------


def zone_examples(separator: str = " · ") -> str:
    """Zones as the reader's programmes would name theirs (Polish readers get CET and Warsaw)."""
    return separator.join(_("MSK · UTC+6 · Omsk · Moscow").split(" · "))


def accepted_forms() -> str:
    dates, _numeric_durations = ACCEPTED_FORMS
    return _(
        "Write: /schedule date time [zone] [duration] [link] title\n"
        "Dates and times: {dates}\n"
        "Zone (optional, else yours, else the group's): {zones}\n"
        "Duration (optional, 1 h by default): {durations}\n"
        "Example: /schedule 27.02 15:00 MSK 90m Video conference with the coordinators"
    ).format(
        dates=dates + " · " + _("tomorrow 15:00"),
        zones=zone_examples(),
        # Durations as the reader writes them; the parser reads 90m, 90мин and 90min alike.
        durations=_("90m · 1h30m"),
    )


def problem_text(error: ScheduleError) -> str:
    return problem_reason(error) + "\n\n" + accepted_forms() + "\n" + _("Nothing was scheduled.")


def problem_reason(error: ScheduleError) -> str:
    """What is wrong with the date and time typed, in one sentence."""
    fragment = html.escape(error.fragment)
    reasons = {
        ScheduleProblem.no_date: _("I could not find a date and time at the start."),
        ScheduleProblem.bad_date: _("There is no such date: «{fragment}»."),
        ScheduleProblem.bad_time: _("That is not a time of day: «{fragment}»."),
        ScheduleProblem.past: _("This moment has already passed: «{fragment}»."),
        ScheduleProblem.too_far: _("That is more than two years ahead: «{fragment}»."),
        ScheduleProblem.unknown_zone: _("I do not know the time zone «{fragment}»."),
        ScheduleProblem.bad_duration: _(
            "A meeting lasts from {shortest} to {longest}: «{fragment}» does not fit."
        ),
        ScheduleProblem.bad_link: _("The link is too long."),
        ScheduleProblem.no_title: _("The meeting needs a title after the date and time."),
        ScheduleProblem.title_too_long: _("The title is too long: at most {limit} characters."),
        ScheduleProblem.extra_text: _("I did not understand «{fragment}»."),
    }
    return reasons[error.problem].format(
        fragment=fragment,
        limit=MAX_TITLE,
        shortest=duration_text(MIN_DURATION),
        longest=duration_text(MAX_DURATION),
    )
