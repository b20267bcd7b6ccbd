"""The question of a person's town and organisation, put to them once."""

from __future__ import annotations

from bot.domain import register
from bot.news import News
from bot.views.register import TOWN, question, question_keyboard
from models import Person


async def ask_profile_once(
    news: News, person: Person, programme_id: int, group_chat_id: int | None = None
) -> None:
    """Ask the person which town they are from (then their organisation), unless they were
    asked before: in private when they have the bot open, else in the group for them alone.
    Called once their first request is acknowledged (the consent flow may call it instead,
    after their first consent). The buttons offer the towns the programme's people gave."""
    if not news.settings.ask_profile:
        return
    if not await register.begin_asking(news.session, person, news.now):
        return
    private = person.private_chat_open or group_chat_id is None
    offered = await register.known_towns(news.session, [programme_id], register.OFFERED)
    with news.speaking(person):
        text = question(TOWN, private=private)
        markup = question_keyboard(TOWN, offered, programme_id, private=private)
    if private:
        await news.outbox.send(
            person.telegram_id, text, markup=markup, purpose="profile", person_id=person.id
        )
    elif group_chat_id is not None:
        await news.outbox.send(
            group_chat_id,
            text,
            markup=markup,
            purpose="profile",
            person_id=person.id,
            only_for=person.telegram_id,
        )
