"""The baseline of ``bench/pipeline.py``: a bare aiogram bot making the same Bot API calls.

For each ``/ask`` in a group it replies with an acknowledgement and sends a card to every
mentor, as MentorDesk does with its send limits raised, but with no database, no inbox and no
outbox: aiogram's own polling, handling each update as a task. Configured by environment:
BOT_TOKEN, TELEGRAM_API_BASE, MENTOR_IDS (comma-separated).
"""

from __future__ import annotations

import asyncio
import itertools
import os

from aiogram import Bot, Dispatcher, F
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.filters import Command
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message

numbers = itertools.count(1)


async def ask(message: Message, bot: Bot, mentors: list[int]) -> None:
    n = next(numbers)
    await message.reply(f"Запрос <b>#{n}</b> принят. Тема: Юридические вопросы.")
    markup = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Взять", callback_data=f"tc:{n}")]]
    )
    for mentor in mentors:
        await bot.send_message(
            mentor, f"🆕 Новый запрос <b>#{n}</b>\n\n{message.text}", reply_markup=markup
        )


async def main() -> None:
    session = AiohttpSession(api=TelegramAPIServer.from_base(os.environ["TELEGRAM_API_BASE"]))
    bot = Bot(
        os.environ["BOT_TOKEN"],
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML),
    )
    dispatcher = Dispatcher(mentors=[int(m) for m in os.environ["MENTOR_IDS"].split(",")])
    dispatcher.message.register(ask, Command("ask"), F.chat.type.in_({"group", "supergroup"}))
    await dispatcher.start_polling(bot, handle_as_tasks=True)


if __name__ == "__main__":
    asyncio.run(main())
