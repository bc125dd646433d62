"""Telegram side of the bot: thin handlers that turn messages into `ChitChat` calls and back.

Each chat's history is the FSM state data of that chat (`{"history": [...]}`), so it lives in
whatever storage the dispatcher has (memory or Redis). Handlers get `chitchat` and `batcher`
from the dispatcher's workflow data.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, Protocol

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import Message
from aiogram.utils.chat_action import ChatActionSender

from ..format import last_utterances
from .batcher import ReplyBatcher
from .middlewares import AllowListMiddleware, ChatRateLimitMiddleware

logger = logging.getLogger(__name__)

GREETING = "Привет! Я бот-собеседник. Напишите мне что-нибудь — поболтаем. /reset начнёт разговор заново, /help — подсказка."
HELP = (
    "Я отвечаю на текстовые сообщения и помню последние реплики нашего разговора.\n"
    "/reset — забыть разговор и начать заново\n"
    "/start — поздороваться"
)
RESET_DONE = "Хорошо, начнём с чистого листа."
TEXT_ONLY = "Я понимаю только текст — напишите, пожалуйста, словами."
APOLOGY = "Простите, у меня не получилось ответить. Попробуйте ещё раз чуть позже."
EMPTY_REPLY = "…"


class ChitChatLike(Protocol):
    """What the bot needs of `rugpt_chitchat.generation.ChitChat`; any object with these will do."""

    max_history: int

    def reply_batch(self, histories: list[list[str]], **generation_kwargs: Any) -> list[str]: ...

    def truncate_utterance(self, text: str) -> str: ...


def build_router(allowed_user_ids: Iterable[int] = (), rate_limit: tuple[int, float] | None = None) -> Router:
    """Routers of the bot: commands, then text -> model reply, then a polite answer to anything else.

    `allowed_user_ids` (non-empty) restricts every message to those users; `rate_limit`
    (messages, seconds) bounds how often one chat reaches the model.
    """
    root = Router(name="chitchat")
    allowed = frozenset(allowed_user_ids)
    if allowed:
        root.message.outer_middleware(AllowListMiddleware(allowed))

    commands = Router(name="commands")
    commands.message.register(greet, CommandStart())
    commands.message.register(show_help, Command("help"))
    commands.message.register(reset_history, Command("reset"))

    conversation = Router(name="conversation")
    if rate_limit is not None:
        conversation.message.middleware(ChatRateLimitMiddleware(*rate_limit))
    conversation.message.register(reply_to_text, F.text)

    other = Router(name="other")
    other.message.register(ask_for_text)

    root.include_routers(commands, conversation, other)
    return root


async def greet(message: Message) -> None:
    await message.answer(GREETING)


async def show_help(message: Message) -> None:
    await message.answer(HELP)


async def reset_history(message: Message, state: FSMContext) -> None:
    await state.set_data({})
    await message.answer(RESET_DONE)


async def ask_for_text(message: Message) -> None:
    await message.answer(TEXT_ONLY)


async def reply_to_text(
    message: Message, state: FSMContext, bot: Bot, chitchat: ChitChatLike, batcher: ReplyBatcher
) -> None:
    """The model's reply to the chat's history plus this message; the history keeps the last turns."""
    utterance = chitchat.truncate_utterance(message.text)
    history = (await state.get_data()).get("history", [])
    try:
        async with ChatActionSender.typing(bot=bot, chat_id=message.chat.id):
            reply = await batcher.reply([*history, utterance])
    except Exception as error:  # the bot apologises and goes on; the batcher logged the traceback
        logger.warning("No reply for chat %s: %s", message.chat.id, error)
        await message.answer(APOLOGY)
        return
    await state.update_data(history=last_utterances([*history, utterance, reply], chitchat.max_history))
    await message.answer(reply.strip() or EMPTY_REPLY)
