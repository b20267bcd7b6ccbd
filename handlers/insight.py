"""``/stats [period]`` with its chart, and ``/export [period]`` as XLSX and CSV files.

Both are for the coordinators of a programme (and admins) and answer in private only: the
figures name mentors and the files name activists. Someone coordinating several programmes
chooses one, or all of them, with a button.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from aiogram import Router
from aiogram.filters import CommandObject
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import lazy_gettext as __
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.delivery import Document
from bot.domain import export, register, stats
from bot.domain.access import Actor
from bot.domain.errors import DomainError, InvalidInput
from bot.domain.programmes import list_programmes
from bot.domain.stats import Period
from bot.telegram.filters import HasRole
from bot.telegram.replies import Replies
from bot.views.charts import render_weekly
from bot.views.export import file_stem, make_files
from bot.views.report import make_pdf, report_caption, report_text, with_report
from bot.views.stats import (
    InsightPick,
    chart_text,
    csv_caption,
    export_caption,
    export_text,
    period_usage,
    programme_choice,
    stats_caption,
    stats_text,
)
from handlers.common import command_for, zone_of
from models import RoleKind

COMMANDS = ("stats", "export", "report")


def router() -> Router:
    router = Router(name="insight")
    refusal = __("Statistics and exports are for programme coordinators.")
    coordinator = HasRole(RoleKind.coordinator)
    command_for(router, "stats", stats_command, coordinator, refusal=refusal)
    command_for(router, "export", export_command, coordinator, refusal=refusal)
    command_for(router, "report", report_command, coordinator, refusal=refusal)
    router.callback_query.register(programme_picked, InsightPick.filter())
    return router


async def _start(
    message: Message,
    outbox: Replies,
    command: CommandObject,
    what: str,
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    now: datetime,
) -> tuple[Period, list[int]] | None:
    """The period asked for and the programmes to cover, or None once the person was answered."""
    try:
        period = stats.parse_period(command.args, now, zone_of(actor, settings))
    except InvalidInput:
        await outbox.answer(
            message,
            _("I do not understand «{text}».").format(text=html.escape((command.args or "")[:40]))
            + "\n"
            + period_usage(),
        )
        return None
    programmes = await list_programmes(session, stats.coordinated(actor))
    if not programmes:
        await outbox.answer(
            message, _("No programmes yet. An admin creates one with /newprogramme Title.")
        )
        return None
    if len(programmes) > 1:
        question = {
            "stats": _("Statistics of which programme?"),
            "export": _("Export which programme?"),
        }.get(what) or _("A report on which programme?")
        await outbox.answer(
            message, question, reply_markup=programme_choice(programmes, what, period)
        )
        return None
    return period, [programmes[0].id]


async def stats_command(
    message: Message,
    outbox: Replies,
    command: CommandObject,
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    now: datetime,
) -> None:
    chosen = await _start(message, outbox, command, "stats", session, actor, settings, now)
    if chosen is not None:
        await send_stats(message, outbox, *chosen, session, actor, now)


async def export_command(
    message: Message,
    outbox: Replies,
    command: CommandObject,
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    now: datetime,
) -> None:
    chosen = await _start(message, outbox, command, "export", session, actor, settings, now)
    if chosen is not None:
        await send_export(message, outbox, *chosen, session, actor, now)


async def report_command(
    message: Message,
    outbox: Replies,
    command: CommandObject,
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    now: datetime,
) -> None:
    chosen = await _start(message, outbox, command, "report", session, actor, settings, now)
    if chosen is not None:
        await send_report(message, outbox, *chosen, session, actor, now)


async def programme_picked(
    query: CallbackQuery,
    outbox: Replies,
    callback_data: InsightPick,
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    now: datetime,
) -> Any:
    message = query.message
    if callback_data.what not in COMMANDS or not isinstance(message, Message):
        return await outbox.callback(query, _("This button is not valid."), show_alert=True)
    try:
        period = stats.parse_period(callback_data.period, now, zone_of(actor, settings))
    except InvalidInput:
        return await outbox.callback(query, _("This button is not valid."), show_alert=True)
    visible = [p.id for p in await list_programmes(session, stats.coordinated(actor))]
    ids = visible if callback_data.programme == 0 else [callback_data.programme]
    try:
        stats.check_scope(actor, ids)
    except DomainError:
        return await outbox.callback(
            query, _("Only the programme's coordinators see its figures."), show_alert=True
        )
    await outbox.callback(query)
    await outbox.edit_message_markup(message, None)
    send = {"stats": send_stats, "export": send_export}.get(callback_data.what, send_report)
    await send(message, outbox, period, ids, session, actor, now)
    return None


async def send_stats(
    message: Message,
    outbox: Replies,
    period: Period,
    programme_ids: Sequence[int],
    session: AsyncSession,
    actor: Actor,
    now: datetime,
) -> None:
    stats.check_scope(actor, programme_ids)
    figures = await stats.collect(session, programme_ids, period, now)
    await outbox.answer(message, stats_text(figures, actor.language))
    if figures.empty:
        return
    png = await render_weekly(figures.weekly, chart_text(figures.weekly, actor.language))
    await outbox.answer_file(
        message,
        Document(filename="stats.png", content=png),
        photo=True,
        caption=stats_caption(figures),
    )


async def send_export(
    message: Message,
    outbox: Replies,
    period: Period,
    programme_ids: Sequence[int],
    session: AsyncSession,
    actor: Actor,
    now: datetime,
) -> None:
    stats.check_scope(actor, programme_ids)
    figures = await stats.collect(session, programme_ids, period, now)
    data = await export.collect_export(session, programme_ids, period, now)
    if not data.tickets and not data.meetings:
        await outbox.answer(
            message,
            _("Nothing to export: no requests and no meetings in this period.")
            + "\n"
            + period_usage(),
        )
        return
    reached = await register.reached(session, programme_ids, period, now)
    text = with_report(export_text(figures, actor.language), figures, reached, data, actor.language)
    files = await make_files(data, text)
    await outbox.answer_file(
        message,
        Document(filename=files.xlsx_name, content=files.xlsx),
        caption=export_caption(figures, files.tickets, files.meetings),
    )
    await outbox.answer_file(
        message, Document(filename=files.csv_name, content=files.csv), caption=csv_caption()
    )
    names = [files.xlsx_name, files.csv_name]
    export.record_export(session, actor.person.id, programme_ids, data, names, now)


async def send_report(
    message: Message,
    outbox: Replies,
    period: Period,
    programme_ids: Sequence[int],
    session: AsyncSession,
    actor: Actor,
    now: datetime,
) -> None:
    """The funders' report as a PDF: the figures of /stats, people reached by town and
    organisation, and each consultation."""
    stats.check_scope(actor, programme_ids)
    figures = await stats.collect(session, programme_ids, period, now)
    reached = await register.reached(session, programme_ids, period, now)
    data = await export.collect_export(session, programme_ids, period, now)
    text = report_text(figures, reached, data.consultations, actor.language, now)
    chart = None
    if not figures.empty:
        chart = await render_weekly(figures.weekly, chart_text(figures.weekly, actor.language))
    pdf = await make_pdf(text, chart)
    await outbox.answer_file(
        message,
        Document(filename=f"{file_stem(period)}-report.pdf", content=pdf),
        caption=report_caption(figures, reached),
    )
