"""Random text, commands and captions thrown at intake: no crash, and no ticket from bad input."""

from __future__ import annotations

import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.domain.tickets import MAX_REQUEST
from bot.sandbox.emulator.client import TelegramClient
from bot.sandbox.emulator.models import FakeChat, FakeMessage, FakeUser
from tests.conftest import World
from tests.ticket_steps import all_tickets

# Printable text in any script, with whitespace, markup characters and emoji, but no lone
# surrogates (Telegram cannot carry them).
TEXT = st.text(
    alphabet=st.characters(exclude_categories=["Cs"]),
    max_size=40,
) | st.sampled_from(
    [
        "",
        "   ",
        "\n\t",
        "<b>жирный</b> & <script>",
        "#юрист",
        "#нетакойтемы Как быть?",
        "а" * MAX_REQUEST,
        "б" * (MAX_REQUEST + 1),
        "/start",
        "@someone_else привет",
    ]
)
FORMS = st.sampled_from(["ask", "mention", "reply", "caption", "plain", "command"])
# The fake server's bot is @mentordesk_test_bot; a command for another bot never reaches it.
COMMANDS = st.sampled_from(
    [
        "/help",
        "/ask@mentordesk_test_bot",
        "/ask@another_bot",
        "/unknown",
        "/ticket",
        "/my x",
        "/new",
    ]
)


class _Errors(logging.Handler):
    """Collects errors logged while handling updates (aiogram logs what a handler raised)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
async def stage(world: World, tg: TelegramClient) -> tuple[FakeUser, FakeChat, FakeMessage]:
    olga = tg.user("Ольга", started=True)
    group = await world.registered_group(members=(olga,))
    await world.mentor("Ирина", "legal")
    return olga, group, tg.last(group)


def _expected_text(form: str, body: str, command: str) -> str | None:
    """The ticket text the input should make, or None when it must make no ticket."""
    asks = command.startswith("/ask") and "@another_bot" not in command
    if form == "plain" or (form == "command" and not asks):
        return None
    if form == "reply" and body.lstrip().startswith("/"):
        return None
    text = body.replace("\x00", "").strip()  # NUL is dropped (PostgreSQL refuses it)
    if not text or len(text) > MAX_REQUEST:
        return None
    return text


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(form=FORMS, body=TEXT, command=COMMANDS)
async def test_random_input_never_crashes_intake(
    stage: tuple[FakeUser, FakeChat, FakeMessage],
    tg: TelegramClient,
    world: World,
    form: str,
    body: str,
    command: str,
) -> None:
    olga, group, bot_message = stage
    errors = _Errors()
    logging.getLogger().addHandler(errors)
    before = await all_tickets(world.app.session_factory)
    try:
        if form == "ask":
            await tg.send(olga, group, f"/ask {body}")
        elif form == "mention":
            await tg.send(olga, group, f"@{tg.bot.username} {body}")
        elif form == "reply":
            await tg.send(olga, group, body or " ", reply_to=bot_message)
        elif form == "caption":
            await tg.send_photo(olga, group, caption=f"/ask {body}"[:1024])
            body = body[: 1024 - len("/ask ")]
        elif form == "command":
            await tg.send(olga, group, f"{command} {body}")
        else:
            await tg.send(olga, group, body or ".")
    finally:
        logging.getLogger().removeHandler(errors)
    assert errors.records == [], [r.getMessage() for r in errors.records]
    after = await all_tickets(world.app.session_factory)
    new = after[len(before) :]
    expected = _expected_text(form, body, command)
    if expected is None:
        assert new == [], (form, body)
    else:
        assert [t.text for t in new] == [expected]
