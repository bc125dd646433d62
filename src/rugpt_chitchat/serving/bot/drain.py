"""A clean stop: no more `getUpdates`, every update already fetched answered, then the dispatcher stops.

Telegram forgets an update once a later `getUpdates` confirms its offset, and aiogram confirms a batch as
soon as it asks for the next one. So an update fetched before SIGTERM exists nowhere else: stopping must
answer it. Updates never fetched stay on Telegram's side and come to the next bot.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.methods import GetUpdates, Response, TelegramMethod
from aiogram.types import Update

logger = logging.getLogger(__name__)


class FetchedUpdates(BaseRequestMiddleware):
    """Request middleware on the bot's session: records what `getUpdates` returned, and stops asking on `close()`.

    A long poll in flight when the bot closes is abandoned: what it would return was not confirmed, so
    Telegram delivers it again later.
    """

    def __init__(self) -> None:
        self.unanswered: dict[int, Update] = {}
        self.closed = asyncio.Event()
        self.all_answered = asyncio.Event()
        self.all_answered.set()

    async def __call__(self, make_request: NextRequestMiddlewareType, bot: Bot, method: TelegramMethod) -> Response:
        if not isinstance(method, GetUpdates):
            return await make_request(bot, method)
        request = asyncio.ensure_future(make_request(bot, method))
        closed = asyncio.ensure_future(self.closed.wait())
        try:
            await asyncio.wait({request, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
        if not request.done():
            request.cancel()
            await asyncio.wait({request})  # unlike `await request`, never mistakes its cancellation for ours
            await asyncio.Future()  # polling waits here until the dispatcher cancels it
        updates = request.result()
        for update in updates:
            self.unanswered[update.update_id] = update
        if updates:
            self.all_answered.clear()
        return updates

    def answered(self, update_id: int) -> None:
        self.unanswered.pop(update_id, None)
        if not self.unanswered:
            self.all_answered.set()


class DrainingDispatcher(Dispatcher):
    """Dispatcher that can stop without dropping what it fetched: `stop_gracefully(timeout)`."""

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.fetched = FetchedUpdates()

    async def feed_update(self, bot: Bot, update: Update, **kwargs: Any) -> Any:
        try:
            return await super().feed_update(bot, update, **kwargs)
        finally:
            self.fetched.answered(update.update_id)

    async def stop_gracefully(self, timeout: float) -> None:
        """Fetch no more, wait up to `timeout` s for the fetched updates to be handled, then stop polling."""
        self.fetched.closed.set()
        if self.fetched.unanswered:
            logger.info("Stopping: answering %d fetched updates (up to %g s), fetching no more",
                        len(self.fetched.unanswered), timeout)
        try:
            await asyncio.wait_for(self.fetched.all_answered.wait(), timeout)
        except asyncio.TimeoutError:
            for update in self.fetched.unanswered.values():
                logger.error("Reply lost: update %d of chat %s not answered within the %g s shutdown timeout",
                             update.update_id, _chat_id(update), timeout)
        await self.stop_polling()


def _chat_id(update: Update) -> int | None:
    event = update.event
    chat = getattr(event, "chat", None) or getattr(getattr(event, "message", None), "chat", None)
    return chat.id if chat is not None else None
