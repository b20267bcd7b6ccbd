"""Polish, end to end: a Polish social-economy centre's people get every answer in Polish."""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.sandbox.emulator.client import TelegramClient
from bot.sandbox.emulator.models import FakeMessage, FakeUser
from bot.sandbox.emulator.server import FakeTelegram
from models import Person
from tests.conftest import World
from tests.ticket_steps import card, number_in, ticket

PROGRAMME = "Centrum KLUCZ – doradztwo ogólne i specjalistyczne"
QUESTION = "Jak zarejestrować stowarzyszenie w KRS i jakie dokumenty przygotować? #prawnik"
ANSWER = "Potrzebny jest statut, lista założycieli i protokół z zebrania założycielskiego."
CYRILLIC = re.compile(r"[А-Яа-яЁё]")
COMMAND = re.compile(r"/\w+")
# Words of the English or Russian texts that a Polish reply would never contain.
FOREIGN = re.compile(
    r"\b(the|your|you|request|requests|claim|resolve|topic|meeting|запрос|наставник)\b",
    re.IGNORECASE,
)


def assert_polish(messages: Iterable[FakeMessage]) -> None:
    """No Russian letter and no English word in what the bot said, buttons included (commands
    such as /resolve are names, not words)."""
    checked = 0
    for message in messages:
        text = COMMAND.sub("", " ".join([message.content, *message.buttons]))
        assert not CYRILLIC.search(text), text
        assert not FOREIGN.search(text), text
        checked += 1
    assert checked, "the bot said nothing to check"


async def _language(db: async_sessionmaker[AsyncSession], user: FakeUser) -> str | None:
    async with db() as session:
        return await session.scalar(select(Person.language).where(Person.telegram_id == user.id))


async def test_telegrams_polish_gets_polish_and_lang_switches_to_it_and_back(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession], server: FakeTelegram
) -> None:
    # Telegram shows Polish people the command menu in Polish.
    for scope in ("all_private_chats", "all_group_chats"):
        menu = {
            c["command"]: c["description"] for c in server.commands[f'{{"type": "{scope}"}}|pl']
        }
        assert menu["ask"] == "zapytaj mentorów: /ask Twoje pytanie"
        assert menu["lang"] == "język: rosyjski, angielski lub polski"

    anna = tg.user("Anna", language="pl", started=True)
    mark = tg.mark()
    await tg.send(anna, anna, "/help")
    assert "Co możesz tu zrobić" in tg.last(anna).text
    assert "/ask — zapytaj mentorów" in tg.last(anna).text
    await tg.send(anna, anna, "/tz Mars/Base")
    assert "Nie znam strefy czasowej „Mars/Base”" in tg.last(anna).text
    assert_polish(tg.bot_messages_since(mark))

    # The buttons name each language in itself; one press switches, and says so in it.
    await tg.send(anna, anna, "/lang")
    choice = tg.last(anna)
    assert (choice.text, choice.buttons) == ("Wybierz język:", ["Русский", "English", "Polski"])
    await tg.press(anna, choice, "English")
    assert tg.message(choice).text == "Language set: English."
    await tg.send(anna, anna, "/help")
    assert "What you can do here" in tg.last(anna).text

    # Back to Polish by the code or by the language's own name.
    await tg.send(anna, anna, "/lang pl")
    assert tg.last(anna).text == "Ustawiono język: polski."
    assert await _language(db, anna) == "pl"
    await tg.send(anna, anna, "/lang ru")
    assert tg.last(anna).text == "Язык: русский."
    await tg.send(anna, anna, "/lang Polski")
    assert tg.last(anna).text == "Ustawiono język: polski."

    # An unknown language is named in the person's language and changes nothing.
    await tg.send(anna, anna, "/lang de")
    assert tg.last(anna).text == "Nieznany język „de”. Dostępne: ru, en, pl."
    assert await _language(db, anna) == "pl"

    # A Russian speaker switches to Polish and gets the topics under their Polish titles.
    maria = tg.user("Мария", language="ru", started=True)
    await tg.send(maria, maria, "/lang")
    await tg.press(maria, tg.last(maria), "Polski")
    await tg.send(maria, maria, "/topics")
    topics = tg.last(maria).text
    assert "Tematy konsultacji" in topics
    assert "• Kwestie prawne — " in topics and "#prawnik" in topics
    assert "• Granty i konkursy — " in topics and "#dotacje" in topics


async def test_a_polish_request_is_filed_claimed_answered_and_rated_in_polish(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    anna = tg.user("Anna", language="pl-PL")
    group = await world.registered_group(
        "Grupa inicjatywna Łódź", programme=PROGRAMME, members=(anna,)
    )
    marek = await world.mentor("Marek", "legal", language="pl")
    ewa = await world.mentor("Ewa", "grants", language="pl")
    assert "Jesteś teraz mentorem programu" in tg.last(marek).text
    assert "Tematy: Kwestie prawne." in tg.last(marek).text
    mark = tg.mark()

    # The activist's hashtag chooses the topic; the answer in the group is Polish.
    request = await tg.send(anna, group, f"/ask {QUESTION}")
    ack = tg.last(group)
    n = number_in(ack.content)
    assert f"Przyjęto zgłoszenie #{n}. Temat: Kwestie prawne." in ack.content
    assert ack.reply_to is not None and ack.reply_to.message_id == request.message_id

    # Only the legal mentor gets a card, in Polish, with the Polish button.
    legal_card = card(tg, marek, n)
    assert f"🆕 Nowe zgłoszenie #{n} · Kwestie prawne" in legal_card.content
    assert "Od: Anna, Grupa inicjatywna Łódź" in legal_card.content
    assert legal_card.buttons == ["Biorę"]
    assert not [m for m in tg.messages(ewa) if f"#{n}" in m.content]

    claimed = await tg.press(marek, legal_card, "Biorę")
    assert claimed.text == f"Zgłoszenie #{n} jest Twoje."
    assert f"Marek zajmie się Twoim zgłoszeniem #{n}" in tg.last(group).content
    assert card(tg, marek, n).buttons == ["Rozwiązane"]

    await tg.send(marek, marek, ANSWER, reply_to=card(tg, marek, n))
    answer = tg.last(group)
    assert ANSWER in answer.content and f"💬 Marek, mentor, w sprawie zgłoszenia #{n}:" in (
        answer.content
    )
    await tg.send(anna, group, "A ile kosztuje wpis do KRS?", reply_to=answer)
    assert "A ile kosztuje wpis do KRS?" in tg.last(marek).content

    await tg.press(marek, card(tg, marek, n), "Rozwiązane")
    prompt = tg.last(group)
    assert f"Zgłoszenie #{n} rozwiązane, oznaczenie mentora Marek" in prompt.content
    assert "Na ile pomogła odpowiedź?" in prompt.content
    await tg.press(anna, prompt, "5 ⭐")
    assert (await ticket(db, n)).rating == 5
    assert f"Ocena Twojej odpowiedzi na #{n} od Anna: 5 ⭐." in tg.last(marek).content

    await tg.send(anna, anna, f"/ticket {n}")
    history = tg.last(anna).content
    assert "Kwestie prawne" in history and "ocena odpowiedzi 5 ⭐" in history

    # The coordinator's figures and files speak Polish too.
    joanna = await world.coordinator("Joanna", language="pl")
    mark_coordinator = tg.mark()
    await tg.send(joanna, joanna, "/stats miesiąc")
    await tg.send(joanna, joanna, "/export")
    said = [m for m in tg.bot_messages_since(mark_coordinator) if m.chat.id == joanna.id]
    figures = next(m.content for m in said if "Statystyki" in m.content)
    assert f"📊 Statystyki · „{PROGRAMME}”" in figures
    assert "• Kwestie prawne — 1" in figures and "• rozwiązane: 1" in figures
    assert "Oceny: średnio 5,0 na 5, ocen: 1" in figures
    assert any(m.content.startswith(f"Eksport · „{PROGRAMME}” · ") for m in said), said
    # Everything said to the Polish people and their group (the admin's chat is Russian).
    polish = {group.id, anna.id, marek.id, ewa.id, joanna.id}
    assert_polish(m for m in tg.bot_messages_since(mark) if m.chat.id in polish)


async def test_polish_office_hours_and_a_polish_schedule(
    world: World, tg: TelegramClient, db: async_sessionmaker[AsyncSession]
) -> None:
    group = await world.registered_group("Grupa inicjatywna Łódź", programme=PROGRAMME)
    marek = await world.mentor("Marek", "legal", language="pl")
    await tg.send(marek, marek, "/tz Europe/Warsaw")
    mark = tg.mark()
    await tg.send(marek, marek, "/hours pon-śr 9-11, czw 18:00-20:00 45m")
    hours = tg.last(marek)
    assert "Twoje godziny konsultacji, strefa: Warszawa (UTC+1); terminy po 45 min:" in hours.text
    assert [
        line for line in hours.text.splitlines() if line.startswith("• ") and "09:00" in line
    ] == ["• Pon. 09:00–11:00", "• Wt. 09:00–11:00", "• Śr. 09:00–11:00"]
    assert "• Czw. 18:00–20:00" in hours.text
    assert hours.buttons == ["Zmień", "Usuń godziny"]
    # A weekday in no language is refused in Polish, and the hours stay as they were.
    await tg.send(marek, marek, "/hours xyz 10:00-12:00")
    assert "Nie znam dnia tygodnia „xyz”." in tg.last(marek).text
    assert "Nic nie zostało zmienione." in tg.last(marek).text

    coordinator = await world.coordinator("Ewa", language="pl")
    await tg.send(coordinator, coordinator, "/tz CET")
    mark_schedule = tg.mark()
    await tg.send(coordinator, coordinator, "/meetings")
    assert tg.last(coordinator).text == "Brak nadchodzących spotkań."
    await tg.send(coordinator, group, "/schedule 27.02.2027 15:00 CET Spotkanie z koordynatorami")
    await tg.send(coordinator, coordinator, "/meetings")
    listed = [
        m.content for m in tg.bot_messages_since(mark_schedule) if m.chat.id == coordinator.id
    ]
    assert any("🕒 sob. 27 lutego 2027, 15:00 Warszawa (UTC+1)" in text for text in listed), listed
    await tg.send(coordinator, group, "/schedule wczoraj 15:00 Spotkanie")
    refusal = tg.last(group).text
    assert "Ten moment już minął: „wczoraj”." in refusal
    assert "jutro 15:00" in refusal and "Warszawa" in refusal
    polish = (marek.id, coordinator.id)
    assert_polish(m for m in tg.bot_messages_since(mark) if m.chat.id in polish)
