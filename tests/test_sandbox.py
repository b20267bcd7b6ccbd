"""The sandbox without a browser: the seeded programme is the bot's own doing, and the page's
API acts as the people it names and refuses what they could not do."""

from __future__ import annotations

import asyncio
import html
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import assume, given
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.app import App
from bot.config import Settings
from bot.sandbox.emulator.client import TelegramClient
from bot.sandbox.emulator.markup import detect_entities, parse_html, utf16_len
from bot.sandbox.web import Sandbox, render_text
from bot.sandbox.world import PROGRAMME, Cast, create_cast, seed
from models import Consent, GroupChat, Meeting, Person, Programme, RoleKind, Ticket, TicketStatus

TAG = re.compile(r"<[^>]*>")
OUR_TAGS = re.compile(r"</?(a|span|b|i|u|s|code|pre|blockquote|tg-emoji)(\s[^>]*)?>")


@pytest.fixture
def cast(tg: TelegramClient) -> Cast:
    return create_cast(tg)


@pytest.fixture
def settings(settings: Settings, cast: Cast, request: pytest.FixtureRequest) -> Settings:
    """The sandbox's admin is the admin of the bot under test; a test parametrized with
    ``ask_consent`` has the bot ask consent, as the demo's does."""
    callspec = getattr(request.node, "callspec", None)
    ask_consent = bool(callspec.params.get("ask_consent")) if callspec is not None else False
    return settings.model_copy(update={"admin_ids": [cast.admin.id], "ask_consent": ask_consent})


@dataclass
class Page:
    """The page's HTTP API, as the browser calls it, and the sandbox behind it."""

    client: TestClient[web.Request, web.Application]
    sandbox: Sandbox

    async def settled(self, app: App) -> None:
        """Wait for the updates the page handed to the bot, and for what the bot said."""
        await asyncio.gather(*self.sandbox.tasks)
        await app.idle()


@pytest.fixture
async def page(app: App, tg: TelegramClient, cast: Cast) -> AsyncIterator[Page]:
    sandbox = Sandbox(
        tg=tg,
        cast=cast,
        i18n=app.i18n,
        session_factory=app.session_factory,
        default_language="ru",
        empty=True,
    )
    client: TestClient[web.Request, web.Application] = TestClient(TestServer(sandbox.application()))
    await client.start_server()
    try:
        yield Page(client, sandbox)
    finally:
        await client.close()
        await sandbox.close()


@pytest.mark.parametrize("ask_consent", [False, True], ids=["no consent", "consent asked"])
async def test_the_seeded_programme_is_made_by_the_bot_itself(
    app: App, tg: TelegramClient, cast: Cast, ask_consent: bool
) -> None:
    await seed(tg, cast, datetime.now(UTC))
    async with app.session_factory() as session:
        programme = (await session.execute(select(Programme))).scalar_one()
        assert programme.title == PROGRAMME
        groups = (await session.execute(select(GroupChat))).scalars().all()
        assert {g.telegram_id for g in groups if g.programme_id == programme.id} == {
            cast.luhansk.id,
            cast.donetsk.id,
        }
        people = {p.telegram_id: p for p in (await session.execute(select(Person))).scalars().all()}
        coordinator = people[cast.coordinator.id]
        assert [r.kind for r in coordinator.roles] == [RoleKind.coordinator]
        for mentor, topic in (
            (cast.lawyers[0], "legal"),
            (cast.lawyers[1], "legal"),
            (cast.grants_mentor, "grants"),
        ):
            row = people[mentor.id]
            assert row.timezone == "Asia/Omsk"
            (role,) = [r for r in row.roles if r.kind == RoleKind.mentor]
            assert [t.code for t in role.topics] == [topic]
        tickets = (await session.execute(select(Ticket))).scalars().all()
        assert [t.status for t in tickets] == [TicketStatus.resolved]
        assert await session.scalar(select(func.count()).select_from(Meeting)) == 1
        # With consent asked, the seed's people answered the notices as people do.
        answers = await session.scalar(select(func.count()).select_from(Consent))
        assert answers == (5 if ask_consent else 0)  # the coordinator, 3 mentors, the activist
    # The activists opened the bot, so it can tell them when their requests are answered.
    assert all(p.user.started for p in (*cast.luhansk_activists, cast.donetsk_activist))


async def test_the_page_acts_as_the_person_it_names(
    page: Page, app: App, tg: TelegramClient, cast: Cast
) -> None:
    admin = cast.admin
    world = await (await page.client.get("/api/world")).json()
    assert [p["name"] for p in world["people"]] == [p.user.full_name for p in cast.people]
    assert world["people"][0]["roles"] == ["admin"]
    assert world["people"][4]["profile"] == "наставник по грантам, Омск (UTC+6)"
    english = await (await page.client.get("/api/world?lang=en")).json()
    assert english["people"][4]["profile"] == "grants mentor, Omsk (UTC+6)"

    chats = await (await page.client.get(f"/api/chats?as={admin.id}")).json()
    assert [c["id"] for c in chats] == [admin.id, cast.luhansk.id, cast.donetsk.id]
    assert chats[1]["may_add_bot"] and not chats[1]["bot_in"]

    added = await page.client.post(f"/api/chats/{cast.luhansk.id}/add-bot", json={"as": admin.id})
    assert added.status == 200
    await page.settled(app)
    sent = await page.client.post(
        f"/api/chats/{cast.luhansk.id}/messages",
        json={"as": admin.id, "text": f"/register {PROGRAMME}"},
    )
    assert sent.status == 200
    await page.settled(app)
    shown = await (
        await page.client.get(f"/api/chats/{cast.luhansk.id}/messages?as={admin.id}")
    ).json()
    assert shown["chat"]["bot_in"]
    last = shown["messages"][-1]
    assert last["from"]["bot"]
    assert f"«{PROGRAMME}»" in html.unescape(last["html"])
    assert '<span class="command">/ask</span>' in last["html"]


async def test_the_page_refuses_what_the_person_could_not_do(
    page: Page, app: App, tg: TelegramClient, cast: Cast
) -> None:
    activist = cast.donetsk_activist
    before = tg.mark()
    history = sum(len(messages) for messages in tg.server.history.values())
    own, press = f"/api/chats/{activist.id}/messages", f"/api/chats/{activist.id}/press"
    refusals = [
        # Somebody the sandbox does not have.
        ("GET", "/api/chats?as=1", None, 404),
        # A group the activist is not in, and another person's private chat.
        ("GET", f"/api/chats/{cast.luhansk.id}/messages?as={activist.id}", None, 404),
        ("POST", f"/api/chats/{cast.admin.id}/messages", {"as": activist.id, "text": "hi"}, 404),
        # No text, too much text, not JSON.
        ("POST", own, {"as": activist.id, "text": " "}, 400),
        ("POST", own, {"as": activist.id, "text": "я" * 4097}, 400),
        ("POST", own, "[1", 400),
        # A button that is not on the message, a deep link that is not one.
        ("POST", press, {"as": activist.id, "message": 1, "data": "x"}, 404),
        ("POST", "/api/open-link", {"as": activist.id, "start": "a b<script>"}, 400),
        # A group the bot is already in is not the admin's to add it to again; a private chat.
        ("POST", f"/api/chats/{activist.id}/add-bot", {"as": activist.id}, 400),
    ]  # fmt: skip
    for method, path, body, status in refusals:
        data = body if isinstance(body, str) else json.dumps(body) if body is not None else None
        response = await page.client.request(
            method, path, data=data, headers={"Content-Type": "application/json"}
        )
        assert response.status == status, (method, path, body, await response.text())
    await page.settled(app)
    assert sum(len(messages) for messages in tg.server.history.values()) == history
    assert tg.bot_messages_since(before) == []


async def test_buttons_and_links_act_through_the_bot(
    page: Page, app: App, tg: TelegramClient, cast: Cast
) -> None:
    admin, lawyer = cast.admin.user, cast.lawyers[0].user
    await tg.start(admin)
    await tg.add_bot_to(cast.luhansk, by=admin)
    await tg.send(admin, cast.luhansk, f"/register {PROGRAMME}")
    await tg.send(admin, admin, "/invite mentor legal")
    link = re.search(r"\?start=([\w-]+)", tg.last(admin).text)
    assert link is not None
    opened = await page.client.post(
        "/api/open-link", json={"as": lawyer.id, "start": link.group(1)}
    )
    assert opened.status == 200
    await page.settled(app)
    assert "наставник" in tg.last(lawyer).text

    activist = cast.luhansk_activists[0].user
    await tg.send(activist, cast.luhansk, "/ask #юрист Как зарегистрировать АНО?")
    card = tg.last(lawyer)
    pressed = await page.client.post(
        f"/api/chats/{lawyer.id}/press",
        json={"as": lawyer.id, "message": card.message_id, "data": card.callback_data("Взять")},
    )
    assert pressed.status == 200
    answer = await pressed.json()
    await page.settled(app)
    assert answer["text"] and "ваш" in answer["text"]
    assert tg.message(card).buttons == ["Решено"]


async def test_changes_reach_the_page_as_events(
    page: Page, app: App, tg: TelegramClient, cast: Cast
) -> None:
    admin = cast.admin.user
    async with page.client.get("/api/events") as stream:
        assert (await stream.content.readline()).startswith(b": connected")
        await stream.content.readline()
        await tg.start(admin)
        events: list[dict[str, int]] = []
        while len(events) < 2:  # the person's /start, then the bot's greeting
            line = await asyncio.wait_for(stream.content.readline(), 15)
            if line.startswith(b"data: "):
                events.append(json.loads(line[len(b"data: ") :]))
    assert {e["chat"] for e in events} == {admin.id}


@given(st.text(max_size=200))
def test_what_people_write_is_shown_as_text_never_as_markup(text: str) -> None:
    shown = render_text(text, detect_entities(text))
    assert html.unescape(TAG.sub("", shown)) == text
    assert all(OUR_TAGS.fullmatch(tag) for tag in TAG.findall(shown)), shown


# Text between tags: letters, spaces, characters to escape, emoji (two UTF-16 units each).
_PLAIN = st.text(st.sampled_from([*"ab ёЖ\n·&<>", "😀", "🆕"]), max_size=12)
_TAGS = {"": None, "b": "bold", "i": "italic", "code": "code"}


@given(st.lists(st.tuples(_PLAIN, st.sampled_from(sorted(_TAGS)), _PLAIN), max_size=6))
def test_the_fake_telegram_reads_html_as_telegram_does(
    pieces: list[tuple[str, str, str]],
) -> None:
    """Escaped characters come back as themselves; each tag's entity starts and ends where
    its text does, counted in UTF-16 units as Telegram counts them."""
    source, plain, wanted = "", "", []
    for before, tag, inside in pieces:
        source += html.escape(before)
        plain += before
        kind = _TAGS[tag]
        if kind is None:
            source += html.escape(inside)
        else:
            source += f"<{tag}>{html.escape(inside)}</{tag}>"
            if inside:
                wanted.append((kind, utf16_len(plain), utf16_len(inside)))
        plain += inside
    assume(plain == plain.strip())  # what is stripped, and where, is not the point here
    text, entities = parse_html(source)
    assert text == plain
    found = [(e["type"], e["offset"], e["length"]) for e in entities]
    assert found == sorted(wanted, key=lambda e: (e[1], -e[2]))
