"""Replies streamed into the chat while they are generated: Bot API drafts (`sendMessageDraft`, private chats).

A draft is ephemeral: the handler still sends the finished reply as a message, so a draft refused (an older
Bot API server, a chat that has no drafts) costs nothing but the preview; "typing…" goes on meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.methods import SendMessageDraft

from ...data.cleaning import clean_utterance
from .batcher import OnWords

logger = logging.getLogger(__name__)

MAX_DRAFT_CHARS = 4096  # a message's limit


@asynccontextmanager
async def streamed_drafts(bot: Bot, chat_id: int, every: float = 0.3) -> AsyncIterator[OnWords]:
    """Yields `on_words(index, text)` for `ReplyBatcher.reply`: the latest text goes to the chat as a draft, at
    most one call per `every` seconds (Telegram floods otherwise); after a refusal, no more drafts this reply."""
    draft_id = secrets.randbelow(2**31 - 1) + 1  # one id per reply: each draft replaces the previous one
    latest = ""
    woken = asyncio.Event()

    def on_words(index: int, text: str) -> None:
        nonlocal latest
        latest = clean_utterance(text)[:MAX_DRAFT_CHARS]
        woken.set()

    async def send_drafts() -> None:
        sent = ""
        while True:
            await woken.wait()
            woken.clear()
            if not latest or latest == sent:
                continue
            sent = latest
            try:
                await bot(SendMessageDraft(chat_id=chat_id, draft_id=draft_id, text=sent))
            except TelegramAPIError as error:
                logger.info("Drafts refused in chat %s (%s); typing only", chat_id, error)
                return
            await asyncio.sleep(every)

    task = asyncio.create_task(send_drafts())
    try:
        yield on_words
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
