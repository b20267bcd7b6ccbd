"""Each programme's own topics: a coordinator shapes them with /topics, and requests, mentors'
cards and lists follow the programme's topics only; bad input changes nothing."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import event, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.domain.errors import InvalidInput
from bot.domain.topics import MAX_CODE, MAX_TITLE, ActiveTopics, clean_tag, clean_title
from bot.sandbox.emulator.client import TelegramClient
from bot.sandbox.emulator.models import FakeMessage, FakeUser
from bot.views.tickets import TopicButton
from bot.views.topics import TopicsAction
from models import Programme, Topic
from tests.conftest import TOKEN_IN_LINK, World
from tests.ticket_steps import ask, card, cards, number_in, ticket

DISTRICT = "Школа активного гражданина района"
SCHOOL = "Школа социального предпринимательства на Донбассе"
DEFAULTS = ["legal", "grants", "rehabilitation", "business", "psychology", "education", "other"]
# Seed 001: the district seminar's six thematic project groups.
GROUPS = [
    ("культура", "Культура"),
    ("здравоохранение", "Здравоохранение"),
    ("семья", "Семья и дети"),
    ("спорт", "Спорт"),
    ("серебряный", "Серебряный возраст: подготовка и переподготовка"),
    ("молодёжь", "Молодёжь: профессиональная подготовка"),
]


class Steps:
    """What one person types and presses in their private chat with the bot, counted."""

    def __init__(self, tg: TelegramClient, person: FakeUser) -> None:
        self.tg, self.person, self.count = tg, person, 0

    async def send(self, text: str) -> FakeMessage:
        self.count += 1
        await self.tg.send(self.person, self.person, text)
        return self.tg.last(self.person)

    async def press(self, message: FakeMessage, button: str) -> FakeMessage:
        self.count += 1
        await self.tg.press(self.person, message, button)
        return self.tg.last(self.person)


async def _topics(db: async_sessionmaker[AsyncSession], programme: str) -> dict[str, Topic]:
    async with db() as session:
        rows = await session.execute(
            select(Topic)
            .join(Programme, Programme.id == Topic.programme_id)
            .where(Programme.title == programme)
        )
        return {topic.code: topic for topic in rows.scalars()}


async def _snapshot(db: async_sessionmaker[AsyncSession]) -> list[tuple[object, ...]]:
    async with db() as session:
        rows = await session.execute(
            select(
                Topic.id, Topic.programme_id, Topic.code, Topic.title_ru, Topic.title_en,
                Topic.title_pl, Topic.hashtags, Topic.keywords, Topic.position, Topic.active,
            ).order_by(Topic.id)
        )  # fmt: skip
        return [tuple(row) for row in rows]


async def _link(tg: TelegramClient, reply: FakeMessage) -> str:
    match = TOKEN_IN_LINK.search(reply.text)
    assert match, reply.text
    return match.group(1)


async def test_a_coordinator_sets_up_the_six_project_groups_of_a_district_programme(  # noqa: PLR0915 - one story, step by step
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    olga = tg.user("Ольга")
    petr = tg.user("Пётр")
    district = await world.registered_group("Совет активистов района", programme=DISTRICT)
    school = await world.registered_group("Луганская группа", programme=SCHOOL, members=(petr,))
    await tg.send(olga, district, "/topics")  # she becomes one of the district's activists
    # Before the change: a lawyer of the district, and a request of hers that has a topic.
    lawyer = tg.user("Ирина", started=True)
    await tg.send(world.admin, world.admin, "/invite mentor legal")
    await tg.press(world.admin, tg.last(world.admin), DISTRICT)
    await tg.start(lawyer, await _link(tg, tg.last(world.admin)))
    old = await ask(tg, olga, district, "Как перерегистрировать устав НКО? #юрист")
    assert card(tg, lawyer, old)

    # The other programme has a sport topic of its own, with a mentor: an admin adds it.
    admin = Steps(tg, world.admin)
    choice = await admin.send("/topics add спорт Спорт")
    assert "Темы какой программы?" in choice.text
    added = await admin.press(choice, SCHOOL)
    assert "Тема добавлена" in added.text and "#спорт" in added.text
    await tg.send(world.admin, world.admin, "/invite mentor спорт")
    # Only there does спорт name a topic: no programme to choose.
    assert SCHOOL in tg.last(world.admin).text
    coach_elsewhere = tg.user("Олег", started=True)
    await tg.start(coach_elsewhere, await _link(tg, tg.last(world.admin)))

    # The district's coordinator, on a phone, from the first message to an invited mentor.
    svetlana = await world.coordinator("Светлана")
    coordinator = Steps(tg, svetlana)
    listed = await coordinator.send("/topics")
    assert f"Темы программы «{DISTRICT}»" in listed.text
    assert "Юридические вопросы" in listed.text and "#юрист" in listed.text
    for code, title in GROUPS:
        reply = await coordinator.send(f"/topics add {code} {title}")
        assert "Тема добавлена" in reply.text and title in reply.text, reply.text
    archived = await coordinator.send("/topics archive " + " ".join(DEFAULTS))
    assert "В архиве" in archived.text and "Юридические вопросы" in archived.text
    # #здоровье was rehabilitation's: free again now that it is archived.
    tagged = await coordinator.send("/topics tags здравоохранение #здоровье #медицина")
    assert "Хэштеги сохранены" in tagged.text and "#здоровье" in tagged.text
    tagged = await coordinator.send("/topics tags семья #семья #дети")
    assert "#дети" in tagged.text
    invitation = await coordinator.send("/invite mentor спорт")
    assert "Спорт" in invitation.text
    assert coordinator.count == 11  # /topics, six topics, archive, two hashtag sets, /invite
    coach = tg.user("Павел", started=True)
    await tg.start(coach, await _link(tg, invitation))

    # The district's #спорт reaches the district's coach only.
    n = await ask(tg, olga, district, "Ищем тренера для детской секции по футболу #спорт")
    assert "Спорт" in tg.last(district).text
    assert card(tg, coach, n).buttons == ["Взять"]
    assert cards(tg, coach_elsewhere, n) == [] and cards(tg, lawyer, n) == []
    district_topics = await _topics(db, DISTRICT)
    assert (await ticket(db, n)).topic_id == district_topics["спорт"].id
    # The other programme's #спорт is its own.
    m = await ask(tg, petr, school, "Где взять форму для команды? #спорт")
    assert card(tg, coach_elsewhere, m).buttons == ["Взять"]
    assert cards(tg, coach, m) == []
    assert (await ticket(db, m)).topic_id == (await _topics(db, SCHOOL))["спорт"].id
    # The archived topic's mentor gets no more cards; #юрист names nothing in the district now.
    await tg.send(olga, district, "/ask Как составить договор аренды? #юрист")
    k = number_in(tg.last(district).text)
    assert cards(tg, lawyer, k) == []
    assert (await ticket(db, k)).topic_id != district_topics["legal"].id
    # The old request keeps its topic.
    await tg.send(svetlana, svetlana, f"/ticket {old}")
    assert "Юридические вопросы" in tg.last(svetlana).text
    # The figures still count the archived topic's request.
    await tg.send(svetlana, svetlana, "/stats all")
    figures = next(m.text for m in reversed(tg.messages(svetlana)) if "Спорт" in m.text)
    assert "Юридические вопросы" in figures
    # Activists see the district's topics and hashtags, only the active ones.
    await tg.send(olga, district, "/topics")
    shown = tg.last(district).text
    assert all(title in shown for _code, title in GROUPS) and "#дети" in shown
    assert "Юридические вопросы" not in shown
    # Who changed what is on the audit trail.
    await tg.send(world.admin, world.admin, "/audit")
    trail = tg.last(world.admin).text
    assert f"Светлана: темы «{DISTRICT}» в архиве: legal, grants" in trail
    assert "Светлана: добавлены темы" in trail and "Админ: добавлены темы" in trail
    # The school's topics are untouched: the seven defaults and its sport.
    school_topics = await _topics(db, SCHOOL)
    assert sorted(school_topics) == sorted([*DEFAULTS, "спорт"])
    assert all(topic.active for topic in school_topics.values())


async def test_bad_input_gets_a_clear_answer_and_changes_nothing(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    olga = tg.user("Ольга", started=True)
    group = await world.registered_group(members=(olga,))
    await tg.send(olga, group, "/topics")
    svetlana = await world.coordinator("Светлана")
    coordinator = Steps(tg, svetlana)
    before = await _snapshot(db)

    refused = {
        # A hashtag (or a code) another topic of the programme answers to.
        "/topics tags grants #гранты #юрист": "#юрист уже принадлежит теме «Юридические вопросы»",
        "/topics add юрист Юристы": "#юрист уже принадлежит теме «Юридические вопросы»",
        "/topics add legal Ещё одна": "#legal уже принадлежит теме «Юридические вопросы»",
        # An empty or too long title.
        "/topics rename legal ru": "Название пустое",
        "/topics rename legal " + "я" * (MAX_TITLE + 1): "не длиннее 100 символов",
        # Archiving the last active topic, with the others in the same command.
        "/topics archive " + " ".join(DEFAULTS): "Хотя бы одна тема должна остаться действующей",
        # Unknown codes, malformed hashtags, unknown subcommands.
        "/topics archive legal nosuch": "нет темы «nosuch»",
        "/topics tags nosuch #x": "нет темы «nosuch»",
        "/topics tags grants #два слова-с-дефисом": "не годится для кода, хэштега",
        "/topics add": "Как пользоваться",
        "/topics frobnicate legal": "Как пользоваться",
    }
    for command, answer in refused.items():
        reply = await coordinator.send(command)
        assert answer in reply.text, (command, reply.text)
    # The last active topic cannot go by its button either.
    await coordinator.send("/topics archive " + " ".join(DEFAULTS[:-1]))
    listed = await coordinator.send("/topics")
    other = await coordinator.press(listed, "Другое")
    alert = await tg.press(svetlana, other, "В архив")
    assert alert.show_alert and "должна остаться действующей" in (alert.text or "")
    await coordinator.send("/topics restore " + " ".join(DEFAULTS[:-1]))
    assert await _snapshot(db) == before

    # Nobody but a coordinator changes topics; in a group, nobody does.
    await tg.send(olga, olga, "/topics archive legal")
    assert "Менять темы программы могут только её координаторы" in tg.last(olga).text
    await tg.send(olga, olga, "/topics")
    assert "Юридические вопросы" in tg.last(olga).text and "В архив" not in tg.last(olga).buttons
    await tg.send(svetlana, group, "/topics archive legal")
    assert "в личных сообщениях" in tg.last(group).text
    legal = (await _topics(db, "Школа социального предпринимательства на Донбассе"))["legal"]
    forged = TopicsAction(action="archive", programme=legal.programme_id, topic=legal.id).pack()
    alert = await tg.press_data(olga, tg.last(olga), forged)
    assert alert.show_alert and "только её координаторы" in (alert.text or "")
    assert await _snapshot(db) == before

    # A title too long by the button, then a good one.
    listed = await coordinator.send("/topics")
    legal_card = await coordinator.press(listed, "Юридические вопросы")
    prompt = await coordinator.press(legal_card, "✏️ EN")
    assert "по-английски" in prompt.text
    reply = await coordinator.send("x" * (MAX_TITLE + 1))
    assert "не длиннее 100 символов" in reply.text and "ещё раз" in reply.text
    assert await _snapshot(db) == before
    reply = await coordinator.send("Law and documents")
    assert "Название сохранено" in reply.text and "en: Law and documents" in reply.text
    # A topic restored after another took its hashtag leaves that hashtag where it is.
    await coordinator.send("/topics archive legal")
    await coordinator.send("/topics tags grants #гранты #юрист")
    restored = await coordinator.send("/topics restore legal")
    assert "Снова предлагаются" in restored.text and "#юрист" in restored.text
    topics = await _topics(db, "Школа социального предпринимательства на Донбассе")
    assert "юрист" not in topics["legal"].hashtags and topics["legal"].active
    assert "юрист" in topics["grants"].hashtags


async def test_a_topic_button_names_a_topic_of_the_tickets_own_programme(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    olga = tg.user("Ольга")
    group = await world.registered_group(members=(olga,))
    await world.registered_group("Омская группа", programme="Школа НКО Омска")
    n = await ask(tg, olga, group, "Добрый день, есть вопрос")
    ack = tg.last(group)
    elsewhere = (await _topics(db, "Школа НКО Омска"))["grants"]
    forged = TopicButton(ticket=n, topic=elsewhere.id).pack()
    alert = await tg.press_data(olga, ack, forged)
    assert alert.show_alert and "устарела" in (alert.text or "")
    assert (await ticket(db, n)).topic_id != elsewhere.id
    # The ticket's own programme's topic is taken.
    own = (await _topics(db, "Школа социального предпринимательства на Донбассе"))["grants"]
    await tg.press_data(olga, ack, TopicButton(ticket=n, topic=own.id).pack())
    assert (await ticket(db, n)).topic_id == own.id


async def test_a_coordinator_of_several_programmes_picks_one_and_edits_with_buttons(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    await world.registered_group()
    await world.registered_group("Омская группа", programme="Школа НКО Омска")
    admin = Steps(tg, world.admin)
    choice = await admin.send("/topics")
    listed = await admin.press(choice, "Школа НКО Омска")
    assert "Темы программы «Школа НКО Омска»" in listed.text
    prompt = await admin.press(listed, "Добавить тему")
    assert "код новой темы" in prompt.text
    added = await admin.send("спорт Спорт и здоровье")
    assert "Тема добавлена" in added.text
    moved = await admin.press(added, "⬆️")
    assert "Спорт и здоровье" in moved.text
    prompt = await admin.press(moved, "Ключевые слова")
    saved = await admin.send("футбол, тренер, спортзал")
    assert "Ключевые слова сохранены" in saved.text and "футбол, тренер, спортзал" in saved.text
    prompt = await admin.press(saved, "Хэштеги")
    saved = await admin.send("#sport #зож")
    assert "#sport #зож" in saved.text
    omsk = await _topics(db, "Школа НКО Омска")
    assert omsk["спорт"].keywords == ["футбол", "тренер", "спортзал"]
    assert omsk["спорт"].hashtags == ["sport", "зож"]
    assert omsk["спорт"].position < omsk["other"].position
    # /cancel leaves a change begun with a button undone.
    await admin.press(saved, "✏️ PL")
    cancelled = await admin.send("/cancel")
    assert "ничего не изменилось" in cancelled.text
    # The subcommands that follow stay with the chosen programme.
    await admin.send("/topics add шахматы Шахматы")
    assert "шахматы" in await _topics(db, "Школа НКО Омска")
    assert "шахматы" not in await _topics(db, SCHOOL)
    # /topics shows the chosen programme again, with a way to another.
    listed = await admin.send("/topics")
    assert "Темы программы «Школа НКО Омска»" in listed.text and "Шахматы" in listed.text
    choice = await admin.press(listed, "🔀 Другая программа")
    listed = await admin.press(choice, SCHOOL)
    assert f"Темы программы «{SCHOOL}»" in listed.text and "Шахматы" not in listed.text


@given(st.text(max_size=MAX_TITLE + 20))
def test_a_title_is_clean_or_refused(text: str) -> None:
    try:
        title = clean_title(text)
    except InvalidInput:
        return
    assert title and title == title.strip() and len(title) <= MAX_TITLE


@given(st.text(max_size=MAX_CODE + 10))
def test_a_hashtag_is_clean_or_refused(text: str) -> None:
    try:
        tag = clean_tag(text)
    except InvalidInput:
        return
    assert tag == tag.lower() and 0 < len(tag) <= MAX_CODE and "#" not in tag and " " not in tag


async def _versions(db: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    async with db() as session:
        rows = await session.execute(select(Programme.title, Programme.topics_version))
        return dict(rows.all())


async def test_active_topics_are_read_once_while_the_programmes_version_stays(
    world: World, db: async_sessionmaker[AsyncSession]
) -> None:
    """The first request reads them; the next ones get rows of their own transaction, built
    from what the process holds, without a query, and a caller's list is its own."""
    await world.registered_group("Совет активистов района", programme=DISTRICT)
    active = ActiveTopics()
    by_title = select(Programme).where(Programme.title == DISTRICT)
    async with db() as session:
        programme = (await session.execute(by_title)).scalar_one()
        read = await active.of(session, programme)  # from the database
        assert [t.code for t in read] == list((await _topics(db, DISTRICT)).keys())
    async with db() as session:
        programme = (await session.execute(by_title)).scalar_one()
        queries: list[str] = []
        engine = session.get_bind()
        listen = event.listens_for(engine, "before_cursor_execute")

        @listen
        def _seen(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
            queries.append(sql)

        again = await active.of(session, programme)  # built from the values held
        event.remove(engine, "before_cursor_execute", _seen)
        assert queries == []
        assert [t.code for t in again] == [t.code for t in read]
        assert not any(topic is old for topic in again for old in read)
        again.clear()  # a caller's list is its own
        assert len(await active.of(session, programme)) == len(read)


async def test_every_write_of_a_topic_moves_its_programmes_topics_version(
    world: World, db: async_sessionmaker[AsyncSession]
) -> None:
    """The database keeps the version, whoever writes the topics: here, plain SQL."""
    await world.registered_group("Совет активистов района", programme=DISTRICT)
    await world.registered_group("Луганская группа", programme=SCHOOL)
    before = await _versions(db)
    district, school = (await _topics(db, DISTRICT)), (await _topics(db, SCHOOL))
    district_id = district["legal"].programme_id

    async def write(statement: str, **values: object) -> dict[str, int]:
        async with db.begin() as session:
            await session.execute(text(statement), values)
        return await _versions(db)

    renamed = await write(
        "UPDATE topics SET title_ru = 'Право' WHERE id = :id", id=district["legal"].id
    )
    assert renamed == {**before, DISTRICT: before[DISTRICT] + 1}
    added = await write(
        "INSERT INTO topics (programme_id, code, title_ru, title_en, title_pl, hashtags, keywords,"
        " position, active) VALUES (:p, 'спорт', 'Спорт', 'Sport', 'Sport', '[]', '[]', 9, :yes)",
        p=district_id, yes=True,
    )  # fmt: skip
    assert added == {**before, DISTRICT: before[DISTRICT] + 2}
    await write("DELETE FROM topics WHERE code = 'спорт'")
    moved = await write(
        "UPDATE topics SET programme_id = :p, code = 'moved' WHERE id = :id",
        p=district_id,
        id=school["other"].id,
    )
    assert moved == {DISTRICT: before[DISTRICT] + 4, SCHOOL: before[SCHOOL] + 1}


async def test_a_request_follows_topics_changed_by_another_process(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    """The bot holds the topics between requests; a change written elsewhere (another
    replica, a coordinator's SQL) reaches the next request all the same."""
    district = await world.registered_group("Совет активистов района", programme=DISTRICT)
    lawyer = await world.mentor("Ирина", "legal")
    olga = tg.user("Ольга")
    first = await ask(tg, olga, district, "Как перерегистрировать устав НКО? #юрист")
    assert card(tg, lawyer, first)
    legal = (await _topics(db, DISTRICT))["legal"]
    async with db.begin() as session:
        await session.execute(
            text("UPDATE topics SET hashtags = :tags WHERE id = :id"),
            {"tags": '["право"]', "id": legal.id},
        )
    # The new hashtag names the topic; the old one names nothing now.
    second = await ask(tg, olga, district, "Нужен договор аренды помещения #право")
    assert card(tg, lawyer, second)
    named = await ticket(db, second)
    assert (named.topic_id, named.topic_confirmed) == (legal.id, True)
    third = await ask(tg, olga, district, "Как оформить пожертвование? #юрист")
    assert not (await ticket(db, third)).topic_confirmed
    # Archived elsewhere: offered nowhere, and its mentor gets no more cards.
    async with db.begin() as session:
        await session.execute(
            text("UPDATE topics SET active = :no WHERE id = :id"), {"no": False, "id": legal.id}
        )
    fourth = await ask(tg, olga, district, "Ещё вопрос про устав #право")
    assert cards(tg, lawyer, fourth) == []
    assert (await ticket(db, fourth)).topic_id != legal.id
