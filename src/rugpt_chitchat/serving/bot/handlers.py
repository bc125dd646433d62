"""Telegram side of the bot: thin handlers that turn messages into model calls and back.

Each chat's history is the FSM state data of that chat (`{"history": [...]}`), so it lives in
whatever storage the dispatcher has (memory or Redis). Handlers get `models` (the `ModelPool`) and
`feedback` (a `FeedbackStore` or None) from the dispatcher's workflow data.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager, nullcontext

from aiogram import Bot, F, Router
from aiogram.enums import ChatType, ContentType
from aiogram.exceptions import TelegramNetworkError, TelegramServerError
from aiogram.filters import Command, CommandStart, ExceptionTypeFilter, Filter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Chat, ErrorEvent, InlineKeyboardButton, InlineKeyboardMarkup, Message, User

from ...format import last_utterances
from .drafts import streamed_drafts
from .feedback import FeedbackStore
from .middlewares import AllowListMiddleware, ChatRateLimitMiddleware
from .models import ModelPool
from .storage import StorageUnavailable

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
THANKS = "Спасибо за оценку!"
NOT_RATABLE = "Этот ответ уже нельзя оценить."
STORAGE_DOWN = "Простите, у меня сбой памяти и я не могу ответить. Напишите, пожалуйста, ещё раз через минуту."

# What people send; anything else (members joining, a new title, a pinned message...) is a service message.
PEOPLE_CONTENT = {
    ContentType.TEXT, ContentType.STICKER, ContentType.PHOTO, ContentType.VOICE, ContentType.VIDEO,
    ContentType.VIDEO_NOTE, ContentType.AUDIO, ContentType.DOCUMENT, ContentType.ANIMATION, ContentType.LOCATION,
    ContentType.VENUE, ContentType.CONTACT, ContentType.POLL, ContentType.DICE, ContentType.STORY,
}
GROUPS = {ChatType.GROUP, ChatType.SUPERGROUP}


class Rating(CallbackData, prefix="rate"):
    liked: bool


RATING_BUTTONS = InlineKeyboardMarkup(inline_keyboard=[[
    InlineKeyboardButton(text="👍", callback_data=Rating(liked=True).pack()),
    InlineKeyboardButton(text="👎", callback_data=Rating(liked=False).pack()),
]])  # fmt: skip


def addressed_to(message: Message, me: User) -> bool:
    """In a group, whether the message is for the bot: it mentions it, answers it, or is a command without another bot's name."""
    if message.chat.type not in GROUPS:
        return True
    replied = message.reply_to_message
    if replied is not None and replied.from_user is not None and replied.from_user.id == me.id:
        return True
    text = message.text or message.caption or ""
    for entity in message.entities or message.caption_entities or ():
        if entity.type == "mention" and entity.extract_from(text).lower() == f"@{me.username}".lower():
            return True
        if entity.type == "text_mention" and entity.user is not None and entity.user.id == me.id:
            return True
        if entity.type == "bot_command" and entity.offset == 0:
            target = entity.extract_from(text).partition("@")[2]
            return not target or target.lower() == (me.username or "").lower()
    return False


class AddressedToBot(Filter):
    async def __call__(self, message: Message, bot: Bot) -> bool:
        return addressed_to(message, await bot.me())


def without_mention(text: str, username: str | None) -> str:
    """The text with '@bot' taken out, so the model reads what was said to it."""
    if not username:
        return text
    stripped = re.sub(rf"@{re.escape(username)}\b", "", text, flags=re.IGNORECASE).strip()
    return stripped or text


def build_router(allowed_user_ids: Iterable[int] = (), rate_limit: tuple[int, float] | None = None) -> Router:
    """Routers of the bot, in the order they see a message.

    Service messages are ignored; in groups, messages not addressed to the bot are only read into the
    history; the rest meet the allow-list (`allowed_user_ids`, empty: everyone), then commands, the
    model (at most `rate_limit` = (messages, seconds) per chat), a polite answer to non-text.
    """
    root = Router(name="chitchat")

    service = Router(name="service")
    service.message.register(ignore, ~F.content_type.in_(PEOPLE_CONTENT))

    overheard = Router(name="overheard")
    overheard.message.register(remember, F.chat.type.in_(GROUPS), ~AddressedToBot())

    addressed = Router(name="addressed")
    allowed = frozenset(allowed_user_ids)
    if allowed:
        addressed.message.outer_middleware(AllowListMiddleware(allowed))

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

    ratings = Router(name="ratings")
    ratings.callback_query.register(record_rating, Rating.filter())

    addressed.include_routers(commands, conversation, other)
    root.include_routers(service, overheard, addressed, ratings)
    root.errors.register(reply_lost, ExceptionTypeFilter(TelegramNetworkError, TelegramServerError))
    root.errors.register(apologise_for_storage, ExceptionTypeFilter(StorageUnavailable))
    return root


async def ignore(message: Message) -> None:
    """Service messages (someone joined, a title changed...) are not talk: no reply."""


async def remember(message: Message, state: FSMContext, models: ModelPool) -> None:
    """A group message not meant for the bot: no reply, but its text joins the chat's history."""
    if message.text:
        arm = models.for_chat(message.chat.id)
        history = (await state.get_data()).get("history", [])
        await state.update_data(history=last_utterances([*history, arm.chitchat.truncate_utterance(message.text)],
                                                        arm.chitchat.max_history))


async def greet(message: Message) -> None:
    await answer(message, GREETING)


async def show_help(message: Message) -> None:
    await answer(message, HELP)


async def reset_history(message: Message, state: FSMContext) -> None:
    await state.set_data({})
    await answer(message, RESET_DONE)


async def ask_for_text(message: Message) -> None:
    await answer(message, TEXT_ONLY)


async def answer(message: Message, text: str, **kwargs) -> Message:
    """Answer in the chat; in a group, as a reply to the message, so it is clear whom the bot answers."""
    if message.chat.type in GROUPS:
        return await message.reply(text, **kwargs)
    return await message.answer(text, **kwargs)


async def reply_to_text(
    message: Message, state: FSMContext, bot: Bot, models: ModelPool, feedback: FeedbackStore | None, stream: bool = False
) -> None:
    """The model's reply to the chat's history plus this message; the history keeps the last turns.

    With `stream`, a private chat sees the reply grow as a draft while it is generated."""
    arm, me = models.for_chat(message.chat.id), await bot.me()
    utterance = arm.chitchat.truncate_utterance(without_mention(message.text, me.username))
    seen = [*(await state.get_data()).get("history", []), utterance]
    drafts = streamed_drafts(bot, message.chat.id) if stream and message.chat.type == ChatType.PRIVATE else nullcontext()
    try:
        async with typing(bot, message.chat.id), drafts as on_words:
            reply = await arm.batcher.reply(seen, on_words=on_words)
    except Exception as error:  # the bot apologises and goes on; the batcher logged the traceback
        logger.warning("No reply for chat %s: %s", message.chat.id, error)
        await answer(message, APOLOGY)
        return
    text = reply.strip() or EMPTY_REPLY
    sent = await answer(message, text, reply_markup=RATING_BUTTONS if feedback else None)
    try:
        await state.update_data(history=last_utterances([*seen, reply], arm.chitchat.max_history))
    except StorageUnavailable as error:  # the reply is out: an apology now would contradict it
        logger.warning("Chat %s was answered, but its history could not be saved: %s", message.chat.id, error)
    if feedback is not None:
        await asyncio.to_thread(feedback.add_reply, me.id, sent.chat.id, sent.message_id, arm.name, seen, text)


@asynccontextmanager
async def typing(bot: Bot, chat_id: int, every: float = 4.5) -> AsyncIterator[None]:
    """Show "typing…" in the chat while the body runs (Telegram clears it after 5 s, so it is resent).

    Unlike aiogram's ChatActionSender, leaving does not wait for a chat action still in flight (a slow
    API would hold up the reply), and a failed one never leaves an unretrieved task exception.
    """

    async def keep_typing() -> None:
        while True:
            await bot.send_chat_action(chat_id=chat_id, action="typing")
            await asyncio.sleep(every)

    task = asyncio.create_task(keep_typing())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def record_rating(
    callback: CallbackQuery, callback_data: Rating, bot: Bot, feedback: FeedbackStore | None
) -> None:
    """A 👍/👎 press: stored under this bot's id, acknowledged, and the buttons taken off the reply so it is rated once."""
    message = callback.message
    stored = feedback is not None and message is not None and await asyncio.to_thread(
        feedback.rate, (await bot.me()).id, message.chat.id, message.message_id, callback_data.liked, callback.from_user.id
    )
    await callback.answer(THANKS if stored else NOT_RATABLE)
    if isinstance(message, Message):
        await message.edit_reply_markup(reply_markup=None)


async def reply_lost(event: ErrorEvent) -> None:
    """An answer the Bot API refused even after the retries: logged there as lost, no traceback here."""


async def apologise_for_storage(event: ErrorEvent, bot: Bot, event_chat: Chat | None = None) -> None:
    """Redis stayed down through every retry: the user hears so, rather than silence (a group only when the
    message was for the bot)."""
    update = event.update
    logger.error("Chat %s gets an apology: the update %d found Redis down (%s)",
                 event_chat.id if event_chat else None, update.update_id, event.exception)
    if update.callback_query is not None:
        await update.callback_query.answer(STORAGE_DOWN)
    elif update.message is not None and addressed_to(update.message, await bot.me()):
        await answer(update.message, STORAGE_DOWN)
