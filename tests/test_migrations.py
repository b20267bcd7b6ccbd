"""Every migration goes up and down on the test database (SQLite, or PostgreSQL in CI)."""

from __future__ import annotations

import asyncio
import importlib.util
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncConnection

import migrations
from bot.db import MIGRATION_LOCK, alembic_config, create_engine, downgrade, upgrade
from bot.db.schema import MigrationFailed, upgrade_at_start
from models import Base
from models.default_topics import DEFAULT_TOPICS


@pytest.fixture
def database_url(empty_database_url: str) -> str:
    """These tests run the migrations themselves: from an empty database, not a migrated copy."""
    return empty_database_url


async def _tables(connection: AsyncConnection) -> set[str]:
    return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))


async def test_upgrade_downgrade_upgrade(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        async with engine.connect() as connection:
            tables = await _tables(connection)
            assert set(Base.metadata.tables) <= tables
        # With no programme there are no topics; going down brings back the global defaults.
        await downgrade(engine, "0009")
        async with engine.connect() as connection:
            codes = (await connection.execute(text("SELECT code FROM topics"))).scalars().all()
            assert {"legal", "grants", "rehabilitation", "business", "psychology", "education",
                    "other"} <= set(codes)  # fmt: skip
        await downgrade(engine, "base")
        async with engine.connect() as connection:
            assert await _tables(connection) <= {"alembic_version"}
        await upgrade(engine)
        async with engine.connect() as connection:
            assert set(Base.metadata.tables) <= await _tables(connection)
    finally:
        await engine.dispose()


async def test_models_match_migrations(database_url: str) -> None:
    """Autogenerate finds nothing to do: the models and the migrations describe one schema."""
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        async with engine.connect() as connection:
            diff = await connection.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata
                )
            )
        assert diff == []
    finally:
        await engine.dispose()


@pytest.mark.no_database
def test_the_newest_revision_the_bot_knows_is_alembics_head() -> None:
    """The bot decides at start whether to migrate by ``migrations.HEAD``, without Alembic."""
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert heads == [migrations.HEAD], "a new migration: set migrations.HEAD to its revision"


async def test_at_start_a_process_migrates_unless_nothing_is_left_to_do(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An empty database is migrated by a process of its own; then a start finds nothing to do
    and starts none; a migration that fails stops the start with the process's error."""
    engine = create_engine(database_url)
    try:
        await upgrade_at_start(engine)
        async with engine.connect() as connection:
            assert set(Base.metadata.tables) <= await _tables(connection)

        async def no_process(*args: object, **kwargs: object) -> None:
            raise AssertionError("a migration process was started with nothing to migrate")

        with monkeypatch.context() as patched:
            patched.setattr(asyncio, "create_subprocess_exec", no_process)
            await upgrade_at_start(engine)

        async with engine.begin() as connection:
            await connection.execute(text("UPDATE alembic_version SET version_num = 'gone'"))
        with pytest.raises(MigrationFailed):
            await upgrade_at_start(engine)
    finally:
        await engine.dispose()


async def test_replicas_starting_together_migrate_once(database_url: str) -> None:
    """Two bot processes start at the same moment on one PostgreSQL database: the second
    waits for the first's migration lock, then finds nothing left to do."""
    if not database_url.startswith("postgresql"):
        pytest.skip("one process serves an SQLite file; replicas need PostgreSQL (run in CI)")
    holder, *engines = [create_engine(database_url) for _ in range(3)]
    try:
        async with holder.connect() as held:
            # Another replica is migrating: it holds the lock the migrations take.
            await held.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            waiting = asyncio.create_task(upgrade(engines[0]))
            await asyncio.sleep(1.0)
            assert not waiting.done(), "a migration ran while another replica held the lock"
            async with engines[1].connect() as connection:
                assert await _tables(connection) <= {"alembic_version"}
            await held.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
            await asyncio.wait_for(waiting, 60)
        # Both at once: neither fails (no table created twice), one version row at head.
        await asyncio.gather(*(upgrade(engine) for engine in engines))
        async with engines[0].connect() as connection:
            versions = (await connection.execute(text("SELECT * FROM alembic_version"))).all()
            assert set(Base.metadata.tables) <= await _tables(connection)
        assert len(versions) == 1
    finally:
        for engine in (holder, *engines):
            await engine.dispose()


async def test_topics_get_polish_titles_and_hashtags(database_url: str) -> None:
    """The default topics get their Polish titles and hashtags; a topic a deployment added
    itself shows its English title to Polish readers; going down removes only what was added."""
    engine = create_engine(database_url)
    try:
        await upgrade(engine, "0007")
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO topics (code, title_ru, title_en, hashtags, keywords, position,"
                    " active) VALUES ('sport', 'Спорт', 'Sport', :tags, '[]', 9, :yes)"
                ),
                {"tags": '["спорт", "inne"]', "yes": True},
            )
        await upgrade(engine, "0009")
        async with engine.connect() as connection:
            rows = {
                code: (title, json.loads(tags) if isinstance(tags, str) else tags)
                for code, title, tags in await connection.execute(
                    text("SELECT code, title_pl, hashtags FROM topics")
                )
            }
        assert rows["legal"] == ("Kwestie prawne", ["юрист", "право", "legal", "law", "prawnik",
                                                    "prawo"])  # fmt: skip
        assert rows["sport"] == ("Sport", ["спорт", "inne"])
        # "inne" already named the deployment's own topic: it stays there alone.
        assert rows["other"] == ("Inne", ["другое", "other", "вопрос", "pytanie"])
        await downgrade(engine, "0007")
        async with engine.connect() as connection:
            legal = await connection.scalar(text("SELECT hashtags FROM topics WHERE code='legal'"))
        assert (json.loads(legal) if isinstance(legal, str) else legal) == [
            "юрист", "право", "legal", "law"
        ]  # fmt: skip
    finally:
        await engine.dispose()


def _json(value: object) -> object:
    return json.loads(value) if isinstance(value, str) else value


def _polish_keywords() -> dict[str, list[str]]:
    """The keywords migration 0012 adds (its module's name starts with a digit)."""
    path = Path(__file__).parent.parent / "migrations" / "versions" / "0012_polish_keywords.py"
    spec = importlib.util.spec_from_file_location("polish_keywords_migration", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return dict(module.POLISH)


async def _programme_topics(connection: AsyncConnection) -> list[dict[str, object]]:
    return [
        {"code": code, "title_ru": ru, "title_en": en, "title_pl": pl,
         "hashtags": _json(tags), "keywords": _json(words)}
        for code, ru, en, pl, tags, words in await connection.execute(
            text("SELECT code, title_ru, title_en, title_pl, hashtags, keywords"
                 " FROM topics ORDER BY position")
        )
    ]  # fmt: skip


async def test_the_defaults_are_what_the_migrations_seeded(database_url: str) -> None:
    """A new programme starts from ``DEFAULT_TOPICS``; programmes that existed when topics
    became per-programme started from what migrations 0002, 0003 and 0008 seeded, and got the
    Polish keywords of 0012 since: the same."""
    engine = create_engine(database_url)
    polish = _polish_keywords()
    try:
        await upgrade(engine, "0009")
        async with engine.begin() as connection:
            seeded = await _programme_topics(connection)
            await connection.execute(
                text("INSERT INTO programmes (title, created_at) VALUES ('Centrum', :at)"),
                {"at": datetime(2026, 11, 30, 10, tzinfo=UTC)},
            )
        assert seeded == [
            {**topic, "keywords": [
                word for word in topic["keywords"] if word not in polish.get(topic["code"], [])
            ]}
            for topic in DEFAULT_TOPICS
        ]  # fmt: skip
        await upgrade(engine)
        async with engine.connect() as connection:
            assert await _programme_topics(connection) == [dict(t) for t in DEFAULT_TOPICS]
    finally:
        await engine.dispose()


async def test_default_topics_get_polish_keywords_and_lose_them_going_down(
    database_url: str,
) -> None:
    """Each default topic gets the Polish keywords it lacks, after its own (a keyword it had
    stays where it was, once); a topic the coordinator created keeps its keywords; going down
    leaves every topic as it was."""
    engine = create_engine(database_url)
    polish = _polish_keywords()
    when = datetime(2026, 11, 30, 10, tzinfo=UTC)
    legal = ["закон", "krs", "spółdzielnia mieszkaniowa"]  # "krs" is one of the Polish ones
    try:
        await upgrade(engine, "0009")
        async with engine.begin() as connection:
            programme = await _insert(
                connection,
                "INSERT INTO programmes (title, created_at) VALUES ('Centrum KLUCZ', :at)",
                at=when,
            )
        await upgrade(engine, "0010")
        async with engine.begin() as connection:
            await connection.execute(
                text("UPDATE topics SET keywords = :words WHERE code = 'legal'"),
                {"words": json.dumps(legal)},
            )
            await connection.execute(
                text("UPDATE topics SET keywords = '[]' WHERE code = 'grants'")
            )
            await connection.execute(
                text(
                    "INSERT INTO topics (programme_id, code, title_ru, title_en, title_pl,"
                    " hashtags, keywords, position, active) VALUES (:p, 'sport', 'Спорт',"
                    " 'Sport', 'Sport', '[\"sport\"]', :words, 9, :yes)"
                ),
                {"p": programme, "words": json.dumps(["sport", "konkurs"]), "yes": True},
            )
            before = {
                code: _json(words)
                for code, words in await connection.execute(
                    text("SELECT code, keywords FROM topics")
                )
            }
        await upgrade(engine)
        async with engine.connect() as connection:
            after = {
                code: _json(words)
                for code, words in await connection.execute(
                    text("SELECT code, keywords FROM topics")
                )
            }
        assert after["legal"] == [*legal, *(w for w in polish["legal"] if w != "krs")]
        assert after["grants"] == polish["grants"]
        assert after["sport"] == ["sport", "konkurs"]
        assert after["other"] == []
        for code, words in after.items():
            assert isinstance(words, list) and len(words) == len(set(words)), code

        await downgrade(engine, "0011")
        async with engine.connect() as connection:
            back = {
                code: _json(words)
                for code, words in await connection.execute(
                    text("SELECT code, keywords FROM topics")
                )
            }
        assert back == before
        await upgrade(engine)
    finally:
        await engine.dispose()


async def _topic_ids(connection: AsyncConnection) -> dict[str, int]:
    rows = await connection.execute(text("SELECT code, id FROM topics"))
    return {row.code: row.id for row in rows}


async def _insert(connection: AsyncConnection, sql: str, **values: object) -> int:
    """Insert one row and return its id (portable: no RETURNING needed)."""
    await connection.execute(text(sql), values)
    table = sql.split()[2]
    return int(await connection.scalar(text(f"SELECT max(id) FROM {table}")) or 0)


async def test_global_topics_become_each_programmes_own(database_url: str) -> None:
    """Two programmes with mentors, tickets, examples and an invitation on the old schema:
    after the upgrade each has its own copy of every topic and everything of it points at
    its copies; going down again leaves one topic per code, and everything points at it."""
    engine = create_engine(database_url)
    when = datetime(2026, 11, 30, 10, tzinfo=UTC)
    try:
        await upgrade(engine, "0009")
        async with engine.begin() as connection:
            ids = await _topic_ids(connection)
            # A topic a deployment added to the global list goes to every programme too.
            ids["sport"] = await _insert(
                connection,
                "INSERT INTO topics (code, title_ru, title_en, title_pl, hashtags, keywords,"
                " position, active) VALUES ('sport', 'Спорт', 'Sport', 'Sport', :tags, '[]', 9,"
                " :no)",
                tags='["спорт"]', no=False,
            )  # fmt: skip
            programmes, roles, tickets = [], [], []
            for n, title in enumerate(("ШСП на Донбассе", "Школа НКО Омска")):
                programme = await _insert(
                    connection,
                    "INSERT INTO programmes (title, created_at) VALUES (:title, :at)",
                    title=title, at=when,
                )  # fmt: skip
                person = await _insert(
                    connection,
                    "INSERT INTO people (telegram_id, first_name, private_chat_open, created_at,"
                    " last_seen_at) VALUES (:tg, 'Ментор', :no, :at, :at)",
                    tg=1000 + n, no=False, at=when,
                )  # fmt: skip
                role = await _insert(
                    connection,
                    "INSERT INTO roles (person_id, programme_id, kind, active, granted_at)"
                    " VALUES (:person, :programme, 'mentor', :yes, :at)",
                    person=person, programme=programme, yes=True, at=when,
                )  # fmt: skip
                for code in ("legal", "sport"):
                    await connection.execute(
                        text("INSERT INTO role_topics (role_id, topic_id) VALUES (:r, :t)"),
                        {"r": role, "t": ids[code]},
                    )
                ticket = await _insert(
                    connection,
                    "INSERT INTO tickets (programme_id, chat_telegram_id, request_message_id,"
                    " author_id, topic_id, topic_confirmed, text, status, created_at) VALUES"
                    " (:programme, :chat, 1, :person, :topic, :yes, 'Как зарегистрировать НКО?',"
                    " 'open', :at)",
                    programme=programme, chat=-100 - n, person=person, topic=ids["legal"],
                    yes=True, at=when,
                )  # fmt: skip
                await connection.execute(
                    text(
                        "INSERT INTO topic_examples (programme_id, ticket_id, topic_id, text,"
                        " source, labelled_at) VALUES (:p, :t, :topic, 'Как зарегистрировать"
                        " НКО?', 'confirmed', :at)"
                    ),
                    {"p": programme, "t": ticket, "topic": ids["legal"], "at": when},
                )
                await connection.execute(
                    text(
                        "INSERT INTO invitations (token, programme_id, kind, topic_ids,"
                        " created_at, expires_at) VALUES (:token, :p, 'mentor', :topics, :at,"
                        " :at)"
                    ),
                    {"token": f"t{n}", "p": programme, "at": when,
                     "topics": json.dumps([ids["grants"], ids["sport"]])},
                )  # fmt: skip
                programmes.append(programme)
                roles.append(role)
                tickets.append(ticket)

        await upgrade(engine)
        async with engine.connect() as connection:
            own: dict[tuple[int, str], int] = {}
            for programme, code, topic_id, active in await connection.execute(
                text("SELECT programme_id, code, id, active FROM topics")
            ):
                own[(programme, code)] = topic_id
                if code == "sport":
                    assert not active  # archived stays archived
            assert {programme for programme, _code in own} == set(programmes)
            assert len(own) == 2 * 8
            assert not set(own.values()) & set(ids.values())  # copies, not the old rows
            for programme, role, ticket in zip(programmes, roles, tickets, strict=True):
                held = set(
                    (await connection.execute(
                        text("SELECT topic_id FROM role_topics WHERE role_id = :r"), {"r": role}
                    )).scalars()
                )  # fmt: skip
                assert held == {own[(programme, "legal")], own[(programme, "sport")]}
                topic = await connection.scalar(
                    text("SELECT topic_id FROM tickets WHERE id = :t"), {"t": ticket}
                )
                assert topic == own[(programme, "legal")]
                example = await connection.scalar(
                    text("SELECT topic_id FROM topic_examples WHERE ticket_id = :t"), {"t": ticket}
                )
                assert example == own[(programme, "legal")]
                invited = await connection.scalar(
                    text("SELECT topic_ids FROM invitations WHERE programme_id = :p"),
                    {"p": programme},
                )
                assert _json(invited) == [own[(programme, "grants")], own[(programme, "sport")]]

        await downgrade(engine, "0009")
        async with engine.connect() as connection:
            back = await _topic_ids(connection)
            assert set(back) == set(ids)
            tickets_topics = (
                await connection.execute(text("SELECT topic_id FROM tickets"))
            ).scalars().all()  # fmt: skip
            assert tickets_topics == [back["legal"], back["legal"]]
            pairs = (await connection.execute(text("SELECT topic_id FROM role_topics"))).all()
            assert sorted(topic for (topic,) in pairs) == sorted([back["legal"], back["sport"]] * 2)
            examples = (await connection.execute(text("SELECT topic_id FROM topic_examples"))).all()
            assert [topic for (topic,) in examples] == [back["legal"], back["legal"]]
        await upgrade(engine)
    finally:
        await engine.dispose()


async def test_rebuilding_topics_keeps_mentors_and_tickets_topics(database_url: str) -> None:
    """SQLite rebuilds the topics table to alter it (0008 going up and down); with foreign
    keys on, that must not cost the mentors their topics nor the tickets theirs."""
    engine = create_engine(database_url)
    when = datetime(2026, 11, 30, 10, tzinfo=UTC)
    try:
        await upgrade(engine, "0007")
        async with engine.begin() as connection:
            legal = await connection.scalar(text("SELECT id FROM topics WHERE code = 'legal'"))
            programme = await _insert(
                connection,
                "INSERT INTO programmes (title, created_at) VALUES ('ШСП', :at)",
                at=when,
            )
            person = await _insert(
                connection,
                "INSERT INTO people (telegram_id, first_name, private_chat_open, created_at,"
                " last_seen_at) VALUES (7, 'Ментор', :no, :at, :at)",
                no=False, at=when,
            )  # fmt: skip
            role = await _insert(
                connection,
                "INSERT INTO roles (person_id, programme_id, kind, active, granted_at)"
                " VALUES (:person, :programme, 'mentor', :yes, :at)",
                person=person, programme=programme, yes=True, at=when,
            )  # fmt: skip
            await connection.execute(
                text("INSERT INTO role_topics (role_id, topic_id) VALUES (:r, :t)"),
                {"r": role, "t": legal},
            )
            await _insert(
                connection,
                "INSERT INTO tickets (programme_id, chat_telegram_id, request_message_id,"
                " author_id, topic_id, topic_confirmed, text, status, created_at) VALUES"
                " (:programme, -100, 1, :person, :topic, :yes, 'Устав НКО', 'open', :at)",
                programme=programme, person=person, topic=legal, yes=True, at=when,
            )  # fmt: skip
        for revision in ("0008", "0007", "0008"):
            if revision == "0007":
                await downgrade(engine, revision)
            else:
                await upgrade(engine, revision)
            async with engine.connect() as connection:
                held = (await connection.execute(text("SELECT topic_id FROM role_topics"))).all()
                ticket = await connection.scalar(text("SELECT topic_id FROM tickets"))
            assert [topic for (topic,) in held] == [legal], revision
            assert ticket == legal, revision
    finally:
        await engine.dispose()


async def test_triage_starts_off_and_going_down_keeps_every_request(database_url: str) -> None:
    """0011 adds the triage switch and marks: existing programmes and requests start without
    triage. Going down drops the columns in place (SQLite rebuilds nothing), so the requests
    keep their history."""
    engine = create_engine(database_url)
    when = datetime(2026, 12, 1, 10, tzinfo=UTC)
    try:
        await upgrade(engine, "0010")
        async with engine.begin() as connection:
            programme = await _insert(
                connection,
                "INSERT INTO programmes (title, created_at) VALUES ('ШСП', :at)",
                at=when,
            )
            person = await _insert(
                connection,
                "INSERT INTO people (telegram_id, first_name, private_chat_open, created_at,"
                " last_seen_at) VALUES (7, 'Ольга', :no, :at, :at)",
                no=False, at=when,
            )  # fmt: skip
            ticket = await _insert(
                connection,
                "INSERT INTO tickets (programme_id, chat_telegram_id, request_message_id,"
                " author_id, topic_confirmed, text, status, created_at) VALUES"
                " (:programme, -100, 1, :person, :no, 'Устав НКО', 'open', :at)",
                programme=programme, person=person, no=False, at=when,
            )  # fmt: skip
            await _insert(
                connection,
                "INSERT INTO ticket_events (ticket_id, kind, actor_id, created_at, details)"
                " VALUES (:ticket, 'created', :person, :at, '{}')",
                ticket=ticket, person=person, at=when,
            )  # fmt: skip
        await upgrade(engine)
        async with engine.begin() as connection:
            assert not await connection.scalar(text("SELECT triage FROM programmes"))
            row = (await connection.execute(text("SELECT triage, escalated_at FROM tickets"))).one()
            assert not row.triage and row.escalated_at is None
            await connection.execute(
                text("UPDATE tickets SET triage = :yes, escalated_at = :at"),
                {"yes": True, "at": when},
            )
            await connection.execute(text("UPDATE programmes SET triage = :yes"), {"yes": True})
        await downgrade(engine, "0010")
        async with engine.connect() as connection:
            columns = await connection.run_sync(
                lambda sync: {c["name"] for c in inspect(sync).get_columns("tickets")}
            )
            assert not {"triage", "escalated_at"} & columns
            assert await connection.scalar(text("SELECT count(*) FROM tickets")) == 1
            assert await connection.scalar(text("SELECT count(*) FROM ticket_events")) == 1
        await upgrade(engine)
    finally:
        await engine.dispose()
