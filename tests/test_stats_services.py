"""``/stats`` figures on a real database, checked exactly against requests of known times."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import create_engine, create_session_factory, upgrade
from bot.domain import stats
from bot.domain.errors import InvalidInput, NotAllowed
from bot.domain.stats import Durations, Period, PeriodKind, parse_period, percentile
from bot.i18n import create_i18n, locale
from bot.views.stats import duration_text, stats_text
from models import TicketStatus
from tests.insight_steps import EXPECTED, FIRST_DAY, LAST_DAY, NOW, ZONE, Cohort


@pytest.fixture
async def factory(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    await upgrade(engine)
    try:
        yield create_session_factory(engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def cohort(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[Cohort]:
    async with factory() as session:
        place = Cohort(session)
        await place.setup()
        await place.scenario()
        await session.commit()
        yield place


PERIOD = Period.days(FIRST_DAY, LAST_DAY, ZONE)


async def test_every_figure_of_a_period_is_exact(cohort: Cohort) -> None:
    figures = await stats.collect(cohort.session, [cohort.programme.id], PERIOD, NOW)

    assert figures.total == EXPECTED.total
    assert figures.by_status == EXPECTED.by_status
    assert {tc.topic.code: tc.count for tc in figures.by_topic if tc.topic} == EXPECTED.by_topic
    assert [tc.topic.code for tc in figures.by_topic if tc.topic] == [
        "legal",
        "grants",
        "rehabilitation",
    ]
    assert figures.people_served == EXPECTED.people
    assert (figures.to_claim.count, figures.to_claim.median, figures.to_claim.p90) == (
        EXPECTED.to_claim
    )
    answer = figures.to_first_answer
    assert (answer.count, answer.median, answer.p90) == EXPECTED.to_first_answer
    resolution = figures.to_resolution
    assert (resolution.count, resolution.median, resolution.p90) == EXPECTED.to_resolution
    count, mean, high = EXPECTED.ratings
    assert figures.ratings.count == count
    assert figures.ratings.mean == pytest.approx(mean)
    assert figures.ratings.high == high
    assert figures.ratings.high_share == pytest.approx(2 / 3)
    assert {
        m.person.first_name: (m.in_progress, m.resolved, m.first_answer.median)
        for m in figures.mentors
    } == EXPECTED.mentors
    assert [m.person.first_name for m in figures.mentors] == ["Сергей", "Ирина", "Дмитрий"]
    assert (figures.meetings.held, figures.meetings.coming) == (
        EXPECTED.meetings_held,
        EXPECTED.meetings_coming,
    )
    assert figures.weekly.weeks == EXPECTED.weeks
    assert {
        topic.code: counts
        for topic, counts in zip(figures.weekly.topics, figures.weekly.counts, strict=True)
        if topic is not None
    } == EXPECTED.weekly
    assert figures.weekly.total == EXPECTED.total


async def test_a_coordinator_of_one_programme_sees_only_its_requests(cohort: Cohort) -> None:
    other = await stats.collect(cohort.session, [cohort.other.id], PERIOD, NOW)
    assert other.total == 2
    assert other.people_served == 1
    assert [m.person.first_name for m in other.mentors] == ["Омский наставник"]
    assert other.to_claim == Durations(1, 300.0, 300.0)
    assert other.meetings.held == 1 and other.meetings.coming == 0
    both = await stats.collect(cohort.session, [cohort.programme.id, cohort.other.id], PERIOD, NOW)
    assert both.total == EXPECTED.total + 2
    assert both.people_served == EXPECTED.people + 1

    coordinator = cohort.actor(cohort.coordinator)
    stats.check_scope(coordinator, [cohort.programme.id])
    for person in (cohort.irina, cohort.olga, cohort.coordinator):
        with pytest.raises(NotAllowed):
            stats.check_scope(cohort.actor(person), [cohort.other.id])
    with pytest.raises(NotAllowed):
        stats.check_scope(cohort.actor(cohort.irina), [cohort.programme.id])
    with pytest.raises(NotAllowed):
        stats.check_scope(coordinator, [])
    stats.check_scope(cohort.actor(cohort.admin, admin=True), [cohort.other.id])
    assert stats.coordinated(coordinator) == [cohort.programme.id]
    assert stats.coordinated(cohort.actor(cohort.admin, admin=True)) is None


async def test_an_empty_period_gives_no_figures_and_no_division_by_zero(cohort: Cohort) -> None:
    empty = Period.days(date(2026, 3, 1), date(2026, 3, 31), ZONE)
    figures = await stats.collect(cohort.session, [cohort.programme.id], empty, NOW)
    assert figures.empty and figures.total == 0
    assert figures.by_status == {} and figures.by_topic == []
    assert figures.people_served == 0
    assert figures.to_claim == figures.to_first_answer == figures.to_resolution == Durations()
    assert figures.ratings.count == 0 and figures.ratings.mean is None
    assert figures.ratings.high_share is None
    assert figures.weekly.weeks == [] and figures.weekly.total == 0
    assert all(m.in_progress == m.resolved == 0 for m in figures.mentors)
    assert figures.meetings.held == 0
    i18n = create_i18n()
    with locale(i18n, "en"):
        text = stats_text(figures, "en")
    assert "No requests were filed in this period." in text
    assert "01.03.2026 – 31.03.2026" in text


async def test_a_single_request_is_its_own_median_and_percentile(cohort: Cohort) -> None:
    day = Period.days(date(2027, 2, 3), date(2027, 2, 3), ZONE)
    figures = await stats.collect(cohort.session, [cohort.programme.id], day, NOW)
    assert figures.total == 1 and figures.by_status == {TicketStatus.resolved: 1}
    assert figures.to_claim == Durations(1, 2400.0, 2400.0)
    assert figures.to_first_answer == Durations(1, 3 * 3600.0, 3 * 3600.0)
    assert figures.to_resolution == Durations(1, 86400.0, 86400.0)
    assert figures.ratings.count == 1 and figures.ratings.mean == 2.0
    assert figures.ratings.high_share == 0.0
    assert figures.weekly.weeks == [date(2027, 2, 1)]
    i18n = create_i18n()
    with locale(i18n, "en"):
        text = stats_text(figures, "en")
    assert "Requests: <b>1</b> · people served: <b>1</b>" in text
    assert "• until a mentor took it: 40 min / 40 min (1)" in text
    assert "• until resolved: 1 d / 1 d (1)" in text
    assert "<b>Ratings</b>: 2.0 of 5 from 1 · rated 4–5: 0%" in text


async def test_the_text_shows_every_figure_in_russian_and_english(cohort: Cohort) -> None:
    figures = await stats.collect(cohort.session, [cohort.programme.id], PERIOD, NOW)
    i18n = create_i18n()
    with locale(i18n, "en"):
        english = stats_text(figures, "en")
    assert "«ШСП на Донбассе»" in english
    assert "Period: 01.02.2027 – 14.02.2027" in english
    assert "Requests: <b>8</b> · people served: <b>3</b>" in english
    assert "• resolved: 3" in english and "• cancelled: 1" in english
    assert "• until a mentor took it: 30 min / 52 min (5)" in english
    assert "• until the first answer: 2 h / 3 h 36 min (5)" in english
    assert "• until resolved: 5 h 30 min / 18 h 36 min (4)" in english
    assert "<b>Ratings</b>: 3.7 of 5 from 3 · rated 4–5: 67%" in english
    assert "• Сергей — 1 / 2 / 3 h" in english
    assert "• Ирина — 0 / 2 / 45 min" in english
    assert "• Дмитрий — 0 / 0 / —" in english
    assert "<b>Meetings</b> held: 1 · planned: 0 · answered “I will come”: 2" in english
    with locale(i18n, "ru"):
        russian = stats_text(figures, "ru")
    assert "3,7" in russian and "67" in russian


def test_percentiles_interpolate_like_percentile_cont() -> None:
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.9) == 7.0
    assert percentile([60.0, 120.0, 180.0, 240.0], 0.5) == 150.0
    assert percentile([10.0, 20.0, 30.0, 40.0, 60.0], 0.9) == 52.0
    assert percentile([1.0, 2.0], 0.9) == 1.9
    assert Durations.of([300.0, 100.0, 200.0]) == Durations(3, 200.0, 280.0)


def test_durations_read_as_people_say_them() -> None:
    with locale(create_i18n(), "en"):
        assert duration_text(None) == "—"
        assert duration_text(20) == "under a minute"
        assert duration_text(45 * 60) == "45 min"
        assert duration_text(2 * 3600) == "2 h"
        assert duration_text(2 * 3600 + 5 * 60) == "2 h 5 min"
        assert duration_text(3 * 86400 + 4 * 3600) == "3 d 4 h"
        assert duration_text(86400 + 20 * 60) == "1 d"


def test_periods_are_read_in_both_languages_and_in_the_readers_zone() -> None:
    now = datetime(2027, 2, 20, 22, 30, tzinfo=UTC)  # 21 February, 01:30 in Moscow
    month = parse_period(None, now, ZONE)
    assert (month.kind, month.first_day, month.last_day) == (
        PeriodKind.month,
        date(2027, 1, 23),
        date(2027, 2, 21),
    )
    assert month.start == datetime(2027, 1, 22, 21, 0, tzinfo=UTC)
    assert month.end == datetime(2027, 2, 21, 21, 0, tzinfo=UTC)
    for text, kind, days in (
        ("week", PeriodKind.week, 7),
        ("неделя", PeriodKind.week, 7),
        ("Месяц", PeriodKind.month, 30),
        ("quarter", PeriodKind.quarter, 90),
        ("квартал", PeriodKind.quarter, 90),
    ):
        period = parse_period(text, now, ZONE)
        assert period.kind == kind and period.first_day is not None
        assert (period.last_day - period.first_day).days == days - 1
    everything = parse_period("всё", now, ZONE)
    assert everything.kind == PeriodKind.all and everything.start is None
    assert everything.token == "all" and parse_period("all", now, ZONE) == everything
    # In Omsk (UTC+6) the same moment is already later in the day, same date.
    assert parse_period("week", now, "Asia/Omsk").last_day == date(2027, 2, 21)
    assert parse_period("week", now, "UTC").last_day == date(2027, 2, 20)

    dates = parse_period("01.02.2027-14.02.2027", now, ZONE)
    assert (dates.kind, dates.first_day, dates.last_day) == (PeriodKind.range, FIRST_DAY, LAST_DAY)
    assert dates.token == "20270201-20270214"
    assert parse_period(dates.token, now, ZONE) == dates
    assert parse_period("1.2.2027 – 14.02.2027", now, ZONE) == dates
    for bad in (
        "yesterday",
        "31.02.2027-01.03.2027",
        "14.02.2027-01.02.2027",
        "1-2",
        "01.01.2000-01.01.2027",
    ):
        with pytest.raises(InvalidInput):
            parse_period(bad, now, ZONE)
