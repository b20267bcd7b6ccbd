"""How coordinators' figures read: the ``/stats`` text, the chart's words, the export's words.

Everything here is rendered in the current gettext language; numbers follow the language's
conventions through Babel (``4,5`` in Russian, ``4.5`` in English).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import date

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder
from babel.numbers import format_decimal, format_percent, get_decimal_symbol

from bot.domain.stats import (
    ConsultationCount,
    ConsultationState,
    Durations,
    Period,
    PeriodKind,
    Stats,
    WeeklySeries,
)
from bot.time.zones import zone_label
from bot.views.charts import ChartText
from bot.views.export import ExportText
from bot.views.sheets import Value
from bot.views.tickets import status_title
from models import MeetingStatus, Person, Programme, TicketStatus, Topic

MAX_MENTORS_SHOWN = 20
MAX_TOPICS_SHOWN = 12
MAX_PROGRAMMES_NAMED = 3
NAME_LIMIT = 40
STATUS_ORDER = (
    TicketStatus.open,
    TicketStatus.claimed,
    TicketStatus.resolved,
    TicketStatus.closed,
    TicketStatus.cancelled,
)


class InsightPick(CallbackData, prefix="ip"):
    """A programme chosen for ``/stats`` or ``/export`` (0: all the person's programmes)."""

    what: str  # "stats" or "export"
    programme: int
    period: str  # Period.token


# --- small pieces ---------------------------------------------------------------------------


def day_text(day: date) -> str:
    return day.strftime("%d.%m.%Y")


def period_text(period: Period) -> str:
    """The period's dates, and what it was asked as: «21.01.2027 – 19.02.2027 (last 30 days)»."""
    if period.first_day is None:
        return _("all time, up to {day}").format(day=day_text(period.last_day))
    dates = f"{day_text(period.first_day)} – {day_text(period.last_day)}"
    named = {
        PeriodKind.week: _("last 7 days"),
        PeriodKind.month: _("last 30 days"),
        PeriodKind.quarter: _("last 90 days"),
    }.get(period.kind)
    return f"{dates} ({named})" if named else dates


def period_usage() -> str:
    return _(
        "Periods: week, month, quarter, all, or dates such as 01.02.2027-28.02.2027. "
        "Without one: the last 30 days."
    )


def duration_text(seconds: float | None) -> str:
    """A duration as people say it: «45 min», «2 h 5 min», «3 d 4 h»."""
    if seconds is None:
        return "—"
    minutes = round(seconds / 60)
    if minutes < 1:
        return _("under a minute")
    if minutes < 60:
        return _("{minutes} min").format(minutes=minutes)
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        if minutes:
            return _("{hours} h {minutes} min").format(hours=hours, minutes=minutes)
        return _("{hours} h").format(hours=hours)
    days, hours = divmod(hours, 24)
    if hours:
        return _("{days} d {hours} h").format(days=days, hours=hours)
    return _("{days} d").format(days=days)


def decimal(value: float, language: str) -> str:
    return format_decimal(value, format="0.0", locale=language)


def percent(share: float, language: str) -> str:
    return format_percent(share, format="0%", locale=language)


def topic_name(topic: Topic | None, language: str) -> str:
    return topic.title(language) if topic is not None else _("no topic")


def short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def programmes_text(programmes: Sequence[Programme]) -> str:
    """The programmes' titles, the first few only: «A», «B», «C» and 4 more."""
    named = ", ".join(
        _("«{title}»").format(title=html.escape(short(p.title, 80)))
        for p in programmes[:MAX_PROGRAMMES_NAMED]
    )
    hidden = len(programmes) - MAX_PROGRAMMES_NAMED
    if hidden > 0:
        named += " " + _("and {count} more").format(count=hidden)
    return named


def mentor_name(person: Person | None) -> str:
    return person.display_name if person is not None else "—"


def _times_line(label: str, durations: Durations) -> str:
    if not durations.count:
        return f"• {label}: —"
    median, p90 = duration_text(durations.median), duration_text(durations.p90)
    return f"• {label}: {median} / {p90} ({durations.count})"


# --- /stats ---------------------------------------------------------------------------------


def stats_heading(stats: Stats) -> list[str]:
    return [
        _("📊 <b>Statistics</b> · {programmes}").format(
            programmes=programmes_text(stats.programmes)
        ),
        _("Period: {period}").format(period=period_text(stats.period)),
    ]


def stats_body(stats: Stats, language: str) -> list[str]:
    """The figures, without a heading; shared by ``/stats`` and the weekly digest."""
    lines: list[str] = []
    if stats.empty:
        lines.append(_("No requests were filed in this period."))
    else:
        lines.append(
            _("<i>Requests filed in the period; times in {zone}.</i>").format(
                zone=html.escape(zone_label(stats.period.zone, language))
            )
        )
        lines.append("")
        lines.append(
            _("Requests: <b>{total}</b> · people served: <b>{people}</b>").format(
                total=stats.total, people=stats.people_served
            )
        )
        lines += [
            f"• {status_title(status)}: {stats.by_status[status]}"
            for status in STATUS_ORDER
            if stats.by_status.get(status)
        ]
        lines += ["", _("<b>By topic</b>")]
        lines += [
            f"• {html.escape(topic_name(tc.topic, language))} — {tc.count}"
            for tc in stats.by_topic[:MAX_TOPICS_SHOWN]
        ]
        lines += ["", _("<b>Times</b> (median / 90th percentile, requests)")]
        lines.append(_times_line(_("until a mentor took it"), stats.to_claim))
        lines.append(_times_line(_("until the first answer"), stats.to_first_answer))
        lines.append(_times_line(_("until resolved"), stats.to_resolution))
        lines += _triage_lines(stats, language)
        lines.append("")
        ratings = stats.ratings
        if ratings.count and ratings.mean is not None and ratings.high_share is not None:
            lines.append(
                _("<b>Ratings</b>: {mean} of 5 from {count} · rated 4–5: {share}").format(
                    mean=decimal(ratings.mean, language),
                    count=ratings.count,
                    share=percent(ratings.high_share, language),
                )
            )
        else:
            lines.append(_("<b>Ratings</b>: none yet"))
    if stats.mentors:
        lines += ["", _("<b>Mentors</b> (in progress / resolved / median first answer)")]
        for load in stats.mentors[:MAX_MENTORS_SHOWN]:
            name = html.escape(short(mentor_name(load.person), NAME_LIMIT))
            answer = duration_text(load.first_answer.median)
            lines.append(f"• {name} — {load.in_progress} / {load.resolved} / {answer}")
        hidden = len(stats.mentors) - MAX_MENTORS_SHOWN
        if hidden > 0:
            lines.append(_("…and {count} more: see /export").format(count=hidden))
    lines += [
        "",
        _(
            "<b>Meetings</b> held: {held} · planned: {planned} · answered “I will come”: {coming}"
        ).format(
            held=stats.meetings.held,
            planned=stats.meetings.planned,
            coming=stats.meetings.coming,
        ),
    ]
    consultations = stats.consultations
    if consultations.total.booked:
        lines += ["", _("<b>Consultations</b> (booked / held / planned / cancelled / no-show)")]
        lines.append(_("• all — {counts}").format(counts=_counts(consultations.total)))
        for person, count in consultations.by_mentor[:MAX_MENTORS_SHOWN]:
            name = html.escape(short(mentor_name(person), NAME_LIMIT))
            lines.append(f"• {name} — {_counts(count)}")
        for topic, count in consultations.by_topic[:MAX_TOPICS_SHOWN]:
            lines.append(f"• {html.escape(topic_name(topic, language))} — {_counts(count)}")
    return lines


def _triage_lines(stats: Stats, language: str) -> list[str]:
    """General against specialist consultations, when some requests went through triage."""
    figures = stats.triage
    rate = figures.escalation_rate
    if not figures.triaged or rate is None:
        return []
    return [
        "",
        _("<b>Triage</b>: {count} requests went to general consultants first").format(
            count=figures.triaged
        ),
        _("• answered by a general consultant: {count}").format(count=figures.general),
        _("• passed to a specialist: {count} ({rate}), answered by specialists: {answered}").format(
            count=figures.escalated, rate=percent(rate, language), answered=figures.specialist
        ),
        _times_line(_("until passed to a specialist"), figures.to_escalation),
    ]


def _counts(count: ConsultationCount) -> str:
    return f"{count.booked} / {count.held} / {count.planned} / {count.cancelled} / {count.no_show}"


def stats_text(stats: Stats, language: str) -> str:
    return "\n".join([*stats_heading(stats), "", *stats_body(stats, language)])


def chart_text(series: WeeklySeries, language: str, *, title: str | None = None) -> ChartText:
    return ChartText(
        title=title or _("Requests per week by topic"),
        y_label=_("Requests"),
        x_label=_("Week starting"),
        series=[topic_name(topic, language) for topic in series.topics],
    )


def stats_caption(stats: Stats) -> str:
    return _("Requests per week by topic · {period}").format(period=period_text(stats.period))


def digest_text(stats: Stats, language: str) -> str:
    first = stats.period.first_day or stats.period.last_day
    heading = [
        _("🗓 <b>Weekly digest</b> · {programmes}").format(
            programmes=programmes_text(stats.programmes)
        ),
        _("Last week: {first} – {last}").format(
            first=day_text(first), last=day_text(stats.period.last_day)
        ),
    ]
    footer = _("Any period: /stats week, /stats month; files: /export")
    return "\n".join([*heading, "", *stats_body(stats, language), "", footer])


def digest_chart_title() -> str:
    return _("Requests per week by topic, last 8 weeks")


def digest_chart_caption() -> str:
    return _("Requests per week by topic over the last 8 weeks.")


def programme_choice(
    programmes: Sequence[Programme], what: str, period: Period
) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for programme in programmes[:20]:
        builder.button(
            text=programme.title[:60],
            callback_data=InsightPick(what=what, programme=programme.id, period=period.token),
        )
    builder.button(
        text=_("All my programmes"),
        callback_data=InsightPick(what=what, programme=0, period=period.token),
    )
    builder.adjust(1)
    return builder.as_markup()


# --- /export --------------------------------------------------------------------------------


def meeting_status_title(status: MeetingStatus) -> str:
    titles = {
        MeetingStatus.scheduled: _("scheduled"),
        MeetingStatus.cancelled: _("cancelled"),
        MeetingStatus.done: _("held"),
    }
    return titles[status]


def _minutes(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 60, 1)


def summary_rows(stats: Stats, language: str) -> list[tuple[list[Value], bool]]:
    """The summary sheet: (row, bold) pairs, the ``/stats`` figures in table form."""
    rows: list[tuple[list[Value], bool]] = [
        ([_("Programmes"), ", ".join(p.title for p in stats.programmes)], False),
        ([_("Period"), period_text(stats.period)], False),
        ([_("Time zone"), zone_label(stats.period.zone, language)], False),
        ([_("Requests filed"), stats.total], False),
        ([_("People served"), stats.people_served], False),
        ([], False),
        ([_("By status")], True),
    ]
    rows += [([status_title(s), stats.by_status.get(s, 0)], False) for s in STATUS_ORDER]
    rows += [([], False), ([_("By topic")], True)]
    rows += [([topic_name(tc.topic, language), tc.count], False) for tc in stats.by_topic]
    rows += [
        ([], False),
        ([_("Times, minutes"), _("Median"), _("90th percentile"), _("Requests")], True),
    ]
    for label, durations in (
        (_("Until a mentor took it"), stats.to_claim),
        (_("Until the first answer"), stats.to_first_answer),
        (_("Until resolved"), stats.to_resolution),
    ):
        rows.append(
            ([label, _minutes(durations.median), _minutes(durations.p90), durations.count], False)
        )
    ratings = stats.ratings
    share = ratings.high_share
    rows += [
        ([], False),
        ([_("Ratings")], True),
        ([_("Ratings given"), ratings.count], False),
        ([_("Mean rating"), None if ratings.mean is None else round(ratings.mean, 2)], False),
        ([_("Rated 4–5, %"), None if share is None else round(share * 100, 1)], False),
        ([], False),
        (
            [
                _("Mentor"),
                _("In progress"),
                _("Resolved"),
                _("Median first answer, minutes"),
            ],
            True,
        ),
    ]
    rows += [
        (
            [
                mentor_name(load.person),
                load.in_progress,
                load.resolved,
                _minutes(load.first_answer.median),
            ],
            False,
        )
        for load in stats.mentors
    ]
    rows += [
        ([], False),
        ([_("Meetings held"), stats.meetings.held], False),
        ([_("Meetings planned"), stats.meetings.planned], False),
        ([_("Answered “I will come”"), stats.meetings.coming], False),
    ]
    figures = stats.triage
    if figures.triaged:
        rate = figures.escalation_rate
        rows += [
            ([], False),
            ([_("Triage")], True),
            ([_("Went to general consultants first"), figures.triaged], False),
            ([_("Answered by a general consultant"), figures.general], False),
            ([_("Passed to a specialist"), figures.escalated], False),
            ([_("Answered by specialists"), figures.specialist], False),
            ([_("Escalation rate, %"), None if rate is None else round(rate * 100, 1)], False),
            (
                [
                    _("Until passed to a specialist, median minutes"),
                    _minutes(figures.to_escalation.median),
                ],
                False,
            ),
        ]
    return rows


def consultation_state_title(state: ConsultationState) -> str:
    titles = {
        ConsultationState.upcoming: _("upcoming"),
        ConsultationState.held: _("held"),
        ConsultationState.cancelled: _("called off"),
        ConsultationState.no_show: _("no-show"),
    }
    return titles[state]


def consultation_figure_rows(stats: Stats, language: str) -> list[tuple[list[Value], bool]]:
    """The consultation figures of ``/stats`` as a sheet: in all, by mentor, by topic."""
    figures = stats.consultations
    counts = [_("Booked"), _("Held"), _("Planned"), _("Cancelled"), _("No-show")]

    def numbers(count: ConsultationCount) -> list[Value]:
        return [count.booked, count.held, count.planned, count.cancelled, count.no_show]

    rows: list[tuple[list[Value], bool]] = [
        ([_("Consultations"), *counts], True),
        ([_("All"), *numbers(figures.total)], False),
        ([], False),
        ([_("Mentor"), *counts], True),
    ]
    rows += [([mentor_name(person), *numbers(c)], False) for person, c in figures.by_mentor]
    rows += [([], False), ([_("Topic"), *counts], True)]
    rows += [([topic_name(topic, language), *numbers(c)], False) for topic, c in figures.by_topic]
    return rows


def export_text(stats: Stats, language: str) -> ExportText:
    zone_note = f", {zone_label(stats.period.zone, language)}"
    return ExportText(
        tickets_sheet=_("Requests"),
        meetings_sheet=_("Meetings"),
        consultations_sheet=_("Consultations"),
        consultation_figures_sheet=_("Consultation figures"),
        summary_sheet=_("Summary"),
        ticket_headers=[
            _("Number"),
            _("Programme"),
            _("Group"),
            _("Topic"),
            _("Topic code"),
            _("Topic confirmed"),
            _("Status"),
            _("Request"),
            _("Author"),
            _("Author's username"),
            _("Author's Telegram id"),
            _("Mentor"),
            _("Mentor's username"),
            _("Filed") + zone_note,
            _("First got a mentor") + zone_note,
            _("Taken by the current mentor") + zone_note,
            _("First answer") + zone_note,
            _("Resolved") + zone_note,
            _("Closed") + zone_note,
            _("Minutes until a mentor took it"),
            _("Minutes until the first answer"),
            _("Minutes until resolved"),
            _("Rating"),
            _("Rating comment"),
            _("Rated") + zone_note,
            _("Files"),
            _("History entries"),
            _("Chat id"),
            _("Request message id"),
            _("Coordinators alerted") + zone_note,
            _("Mentor reminded") + zone_note,
            _("Went to a general consultant first"),
            _("Passed to a specialist") + zone_note,
        ],
        meeting_headers=[
            _("Number"),
            _("Programme"),
            _("Title"),
            _("Starts") + zone_note,
            _("Duration, minutes"),
            _("Status"),
            _("Zone it was set in"),
            _("Video link"),
            _("Audience"),
            _("Request number"),
            _("Called by"),
            _("Coming"),
            _("Not coming"),
            _("Who is coming"),
            _("Who is not coming"),
        ],
        consultation_headers=[
            _("Meeting number"),
            _("Request number"),
            _("Programme"),
            _("Topic"),
            _("Mentor"),
            _("Activist"),
            _("Activist's username"),
            _("Starts") + zone_note,
            _("Starts") + " (UTC)",
            _("Duration, minutes"),
            _("Status"),
            _("Booked") + zone_note,
        ],
        consultation_figures=consultation_figure_rows(stats, language),
        summary=summary_rows(stats, language),
        statuses={status: status_title(status) for status in TicketStatus},
        meeting_statuses={status: meeting_status_title(status) for status in MeetingStatus},
        consultation_states={state: consultation_state_title(state) for state in ConsultationState},
        language=language,
        no_topic=_("no topic"),
        yes=_("yes"),
        no=_("no"),
        # Spreadsheets split CSV on semicolons where the decimal mark is a comma (Russian,
        # Polish), on commas elsewhere.
        csv_delimiter=";" if get_decimal_symbol(language) == "," else ",",
    )


def export_caption(stats: Stats, tickets: int, meetings: int) -> str:
    return _("Export · {programmes} · {period}: {tickets} requests, {meetings} meetings").format(
        programmes=programmes_text(stats.programmes),
        period=period_text(stats.period),
        tickets=tickets,
        meetings=meetings,
    )


def csv_caption() -> str:
    return _("The same requests as CSV (UTF-8), for any spreadsheet or script.")
