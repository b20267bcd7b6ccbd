"""DEFAULT_LANGUAGE=pl: a Polish deployment speaks Polish to all without a language of theirs."""

from __future__ import annotations

import pytest

from bot.config import Settings
from bot.sandbox.emulator.client import TelegramClient
from bot.sandbox.emulator.server import FakeTelegram
from tests.conftest import World

PROGRAMME = "Centrum KLUCZ – doradztwo ogólne i specjalistyczne"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"default_language": "pl"})


async def test_default_language_pl_serves_every_other_language_and_the_groups(
    world: World, tg: TelegramClient, server: FakeTelegram
) -> None:
    # The command menu: Polish for every language without its own, Russian and English apart.
    private = '{"type": "all_private_chats"}'
    assert {key.split("|")[1] for key in server.commands if key.startswith(private)} == {
        "",
        "ru",
        "en",
    }
    default_menu = {c["command"]: c["description"] for c in server.commands[f"{private}|"]}
    assert default_menu["lang"] == "język: rosyjski, angielski lub polski"
    russian_menu = {c["command"]: c["description"] for c in server.commands[f"{private}|ru"]}
    assert russian_menu["lang"] == "язык: русский, английский или польский"

    hans = tg.user("Hans", language="de", started=True)
    await tg.send(hans, hans, "/help")
    assert "Co możesz tu zrobić" in tg.last(hans).text

    # What the bot says to a whole group is in the deployment's language.
    group = tg.group("Grupa Łódź", members=(world.admin,), admins=(world.admin,))
    await tg.add_bot_to(group, by=world.admin)
    await tg.send(world.admin, group, "/lang pl")
    await tg.send(world.admin, group, f"/register {PROGRAMME}")
    assert f"zarejestrowana w programie „{PROGRAMME}”" in tg.last(group).text
    mark = tg.mark()
    await tg.send(world.admin, group, "/schedule 27.02.2027 15:00 CET Spotkanie z koordynatorami")
    announcement = next(m for m in tg.bot_messages_since(mark) if m.buttons)
    assert "sob. 27 lutego 2027" in announcement.content
    assert announcement.buttons == ["✅ Będę · 0", "❌ Nie mogę · 0"]
