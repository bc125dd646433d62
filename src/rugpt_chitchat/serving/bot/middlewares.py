"""Who may talk to the bot and how often: aiogram middlewares for the allow-list and the rate limit."""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import Message

NOT_ALLOWED = "Извините, это закрытый бот: он отвечает только приглашённым собеседникам."
TOO_FAST = "Не так быстро, я не успеваю :) Не больше {messages} сообщений за {seconds:g} с — подождите немного."

Handler = Callable[[Message, dict[str, Any]], Awaitable[Any]]


class AllowListMiddleware(BaseMiddleware):
    """Answers messages from users outside `user_ids` with a polite refusal instead of handling them."""

    def __init__(self, user_ids: Iterable[int]):
        self.user_ids = frozenset(user_ids)

    async def __call__(self, handler: Handler, event: Message, data: dict[str, Any]) -> Any:
        if event.from_user is not None and event.from_user.id in self.user_ids:
            return await handler(event, data)
        await event.answer(NOT_ALLOWED)
        return None


class ChatRateLimitMiddleware(BaseMiddleware):
    """At most `messages` handled per chat in any `seconds` window; the rest get a friendly answer.

    Counts live in this process: they only guard the model against floods, so losing them on
    restart is harmless even when the history itself lives in Redis.
    """

    def __init__(self, messages: int, seconds: float):
        self.messages = messages
        self.seconds = seconds
        self._recent: defaultdict[int, deque[float]] = defaultdict(deque)

    async def __call__(self, handler: Handler, event: Message, data: dict[str, Any]) -> Any:
        if self._admit(event.chat.id, time.monotonic()):
            return await handler(event, data)
        await event.answer(TOO_FAST.format(messages=self.messages, seconds=self.seconds))
        return None

    def _admit(self, chat_id: int, now: float) -> bool:
        recent = self._recent[chat_id]
        while recent and now - recent[0] >= self.seconds:
            recent.popleft()
        if len(recent) >= self.messages:
            return False
        recent.append(now)
        return True
