"""``/stats`` through Telegram: the figures and the chart, choices, refusals, other programmes."""

from __future__ import annotations

import io

from PIL import Image
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.sandbox.emulator.client import TelegramClient
from bot.sandbox.emulator.models import FakeUser
from bot.views.stats import InsightPick
from models import Programme
from tests.conftest import TOKEN_IN_LINK, World
from tests.test_stats_chart import bar_groups
from tests.ticket_steps import ask, card

OMSK = "Школа НКО Омска"


async def coordinator_of(world: World, person: FakeUser, *titles: str) -> None:
    """Make the person a coordinator of each programme named, choosing it by its button."""
    tg, admin = world.tg, world.admin
    for title in titles:
        await tg.send(admin, admin, "/invite coordinator")
        choice = tg.last(admin)
        if choice.buttons:
            await tg.press(admin, choice, title[:60])
        match = TOKEN_IN_LINK.search(tg.last(admin).text or "")
        assert match, tg.last(admin).text
        await tg.start(person, match.group(1))


async def test_a_coordinator_gets_the_figures_and_a_chart(world: World, tg: TelegramClient) -> None:
    olga = tg.user("Olga", language="en")
    group = await world.registered_group(members=(olga,))
    coordinator = await world.coordinator("Natalia", language="en")
    irina = await world.mentor("Irina", "legal", language="en")
    first = await ask(tg, olga, group, "How do I register an NGO? #legal")
    await ask(tg, olga, group, "Where can we find a grant for the workshop? #grants")
    await tg.press(irina, card(tg, irina, first), "Claim")

    await tg.send(coordinator, coordinator, "/stats week")
    *_, figures, chart = tg.messages(coordinator)
    text = figures.content
    assert "Statistics · «Школа социального предпринимательства на Донбассе»" in text
    assert "(last 7 days)" in text
    assert "Requests: 2 · people served: 1" in text
    assert "• waiting for a mentor: 1" in text and "• in progress: 1" in text
    assert "• Legal matters — 1" in text and "• Grants and competitions — 1" in text
    assert "• until a mentor took it: " in text and "(1)" in text
    assert "• until resolved: —" in text
    assert "Ratings: none yet" in text
    assert "• Irina — 1 / 0 / —" in text
    assert "Meetings held: 0" in text
    assert chart.photo and chart.file_bytes is not None
    assert chart.content.startswith("Requests per week by topic")
    image = Image.open(io.BytesIO(chart.file_bytes))
    assert image.format == "PNG" and image.size == (1200, 800)
    assert bar_groups(chart.file_bytes) == 1  # every request is from this week

    await tg.send(coordinator, coordinator, "/stats 01.01.2020-31.01.2020")
    assert "No requests were filed in this period." in tg.last(coordinator).content
    assert not tg.last(coordinator).photo

    await tg.send(coordinator, coordinator, "/stats yesterday")
    answer = tg.last(coordinator).content
    assert "I do not understand «yesterday»." in answer and "Periods: week, month" in answer


async def test_mentors_and_activists_are_refused(world: World, tg: TelegramClient) -> None:
    olga = tg.user("Olga", language="en")
    group = await world.registered_group(members=(olga,))
    irina = await world.mentor("Irina", "legal", language="en")
    await ask(tg, olga, group, "How do I register an NGO?")
    for person in (olga, irina):
        await tg.send(person, person, "/stats")
        assert tg.last(person).content == "Statistics and exports are for programme coordinators."
        assert not tg.last(person).photo
    await tg.send(olga, group, "/stats")
    assert "in private only" in tg.last(group).content
    # A forged programme choice is refused too.
    forged = InsightPick(what="stats", programme=1, period="all").pack()
    await tg.press_data(olga, tg.last(olga), forged)
    assert tg.last_answer(olga).show_alert
    assert tg.last(olga).content == "Statistics and exports are for programme coordinators."


async def test_a_coordinator_chooses_a_programme_and_never_sees_another(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    olga, omich = tg.user("Olga", language="en"), tg.user("Omich", language="en")
    donbass = await world.registered_group(members=(olga,))
    omsk = await world.registered_group("Омская группа", programme=OMSK, members=(omich,))
    await ask(tg, olga, donbass, "How do I register an NGO?")
    await ask(tg, omich, omsk, "Which grant fits a rehabilitation centre?")
    await ask(tg, omich, omsk, "How do we report on a presidential grant?")
    async with db() as session:
        omsk_id = (
            await session.execute(select(Programme.id).where(Programme.title == OMSK))
        ).scalar_one()

    natalia = tg.user("Natalia", language="en")
    await coordinator_of(world, natalia, "Школа социального предпринимательства на Донбассе")
    await tg.send(natalia, natalia, "/stats")
    assert "Requests: 1 · people served: 1" in tg.messages(natalia)[-2].content
    # A forged button for the other programme shows nothing of it.
    before = len(tg.messages(natalia))
    forged = InsightPick(what="stats", programme=omsk_id, period="month").pack()
    await tg.press_data(natalia, tg.last(natalia), forged)
    assert tg.last_answer(natalia).show_alert
    assert len(tg.messages(natalia)) == before

    marina = tg.user("Marina", language="en")
    await coordinator_of(world, marina, "Школа социального предпринимательства на Донбассе", OMSK)
    await tg.send(marina, marina, "/stats month")
    choice = tg.last(marina)
    assert choice.content == "Statistics of which programme?"
    assert choice.buttons[-1] == "All my programmes" and OMSK in choice.buttons
    await tg.press(marina, choice, OMSK)
    figures = tg.messages(marina)[-2]
    assert f"«{OMSK}»" in figures.content and "Requests: 2 · people served: 1" in figures.content
    assert not tg.message(choice).buttons
    await tg.send(marina, marina, "/stats month")
    await tg.press(marina, tg.last(marina), "All my programmes")
    assert "Requests: 3 · people served: 2" in tg.messages(marina)[-2].content


async def test_figures_speak_russian_by_default(world: World, tg: TelegramClient) -> None:
    olga = tg.user("Ольга")
    group = await world.registered_group(members=(olga,))
    coordinator = await world.coordinator("Наталья")
    await ask(tg, olga, group, "Как зарегистрировать АНО?")
    await tg.send(coordinator, coordinator, "/stats")
    text = tg.messages(coordinator)[-2].content
    assert "Статистика" in text and "Запросы: 1" in text
    assert tg.last(coordinator).content.startswith("Запросы по неделям и темам")
