"""``/consultations [week|next|DD.MM]``: the week's schedule of consultations for coordinators,
as text, a PNG week view and one ``.ics``."""

from __future__ import annotations

import html
from datetime import datetime

from aiogram import Router
from aiogram.filters import CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import lazy_gettext as __
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.delivery import Document
from bot.domain import consultations, stats
from bot.domain.access import Actor
from bot.domain.errors import InvalidInput
from bot.domain.programmes import list_programmes
from bot.telegram.filters import HasRole
from bot.telegram.replies import Replies
from bot.time.zones import zone
from bot.views.calendar import meetings_ics
from bot.views.consultations import render_week, week_labels, week_text, week_title
from handlers.common import command_for, zone_of
from models import RoleKind


def router() -> Router:
    router = Router(name="consultations")
    refusal = __("The schedule of consultations is for programme coordinators.")
    coordinator = HasRole(RoleKind.coordinator)
    command_for(router, "consultations", show_week, coordinator, refusal=refusal)
    return router


async def show_week(
    message: Message,
    outbox: Replies,
    command: CommandObject,
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    now: datetime,
) -> None:
    zone_name = zone_of(actor, settings)
    here = zone(zone_name)
    try:
        first_day = consultations.parse_week(command.args, now.astimezone(here).date())
    except InvalidInput:
        await outbox.answer(
            message,
            _("I do not understand «{text}». Use /consultations, /consultations next or "
              "/consultations 27.02.").format(text=html.escape((command.args or "")[:40])),
        )  # fmt: skip
        return
    programme_ids = stats.coordinated(actor)
    if programme_ids is None:
        programme_ids = [p.id for p in await list_programmes(session)]
    week = await consultations.week(
        session, programme_ids, first_day, here, now=now,
        default_zone=settings.default_timezone, capacity=settings.mentor_capacity,
    )  # fmt: skip
    await outbox.answer(message, week_text(week, here, zone_name))
    png = await render_week(week, here, week_labels(week, zone_name))
    await outbox.answer_file(
        message,
        Document(filename=f"consultations-{first_day:%Y-%m-%d}.png", content=png),
        photo=True,
    )
    if week.meetings:
        calendar = meetings_ics(week.meetings, now=now, name=week_title(week, zone_name))
        await outbox.answer_file(
            message, Document(filename=f"consultations-{first_day:%Y-%m-%d}.ics", content=calendar)
        )
