"""The quick command test routers get (``bot.telegram.filters.commands_only``) turns away only
messages that none of the router's own handlers would take."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from aiogram import Router
from aiogram.filters import Command, StateFilter
from aiogram.types import Chat, Message, User
from hypothesis import given, settings
from hypothesis import strategies as st

import handlers
from bot.telegram.filters import AnyOfCommands, commands_only

# Nothing here touches the suite's database: the PostgreSQL run leaves it out.
pytestmark = pytest.mark.no_database

ME = User(id=1, is_bot=True, first_name="MentorDesk", username="MentorDeskBot")


class _Bot:
    """What ``Command`` asks of the bot: who it is, for a command addressed with @."""

    async def me(self) -> User:
        return ME


def _message(text: str, *, caption: bool = False) -> Message:
    content: dict[str, Any] = {"caption": text} if caption else {"text": text}
    return Message(
        message_id=1,
        date=datetime(2026, 12, 2, tzinfo=UTC),
        chat=Chat(id=-100, type="supergroup", title="Группа"),
        from_user=User(id=7, is_bot=False, first_name="Анна"),
        **content,
    )


def _router_filters(router: Router) -> list[Any]:
    # aiogram keeps an observer's own filters on its inner handler object.
    return [f.callback for f in router.message._handler.filters or ()]


def _quick_tests() -> list[tuple[Router, AnyOfCommands]]:
    found = []
    for router in handlers.build_routers():
        tests = [f for f in _router_filters(router) if isinstance(f, AnyOfCommands)]
        if tests:
            found.append((router, tests[0]))
    return found


def _commands(router: Router) -> list[Command]:
    return [
        f.callback
        for handler in router.message.handlers
        for f in handler.filters or ()
        if isinstance(f.callback, Command)
    ]


def test_only_routers_of_commands_get_the_quick_test() -> None:
    routers = {router.name: test for router, test in _quick_tests()}
    assert "insight" in routers
    assert {"stats", "export"} <= routers["insight"].names
    # Routers that also take plain messages (a request, a reply, a dialogue's answer) keep
    # every message.
    for name in ("groups", "tickets", "conversation", "schedule", "topics"):
        assert name not in routers

    mixed = Router(name="mixed")
    mixed.message.register(lambda m: None, Command("one"))
    mixed.message.register(lambda m: None, StateFilter("*"))
    commands_only(mixed)
    assert not _router_filters(mixed)


# The texts people send: commands of the bot's (in any case, addressed to it or to another
# bot, with arguments), other commands, and plain text.
QUICK_TESTS = _quick_tests()
NAMES = sorted({name for _router, test in QUICK_TESTS for name in test.names} | {"ask", "x"})
command_texts = st.builds(
    lambda prefix, name, upper, mention, args: (
        prefix + (name.upper() if upper else name) + mention + args
    ),
    st.sampled_from(["/", "/", "!", ""]),
    st.sampled_from(NAMES),
    st.booleans(),
    st.sampled_from(["", "@MentorDeskBot", "@mentordeskbot", "@OtherBot"]),
    st.sampled_from(["", " 12", "\nпервая строка", "  два  слова "]),
)
texts = st.one_of(command_texts, st.text(max_size=40))


@settings(max_examples=300, deadline=None)
@given(text=texts, caption=st.booleans())
async def test_the_quick_test_passes_whatever_a_handler_would_take(
    text: str, caption: bool
) -> None:
    message = _message(text, caption=caption)
    for router, quick in QUICK_TESTS:
        taken = [bool(await command(message, _Bot())) for command in _commands(router)]  # type: ignore[arg-type]
        if any(taken):
            assert await quick(message), (router.name, text)


async def test_the_quick_test_turns_away_other_messages() -> None:
    quick = AnyOfCommands(frozenset({"stats", "export"}), frozenset("/"))
    for text in ("/ask Как зарегистрировать НКО?", "stats", "Привет", "/", "/statsx", ""):
        assert not await quick(_message(text)), text
    for text in ("/stats", "/STATS@MentorDeskBot", "/export 2026-11"):
        assert await quick(_message(text)), text
