"""No reply lost to a passing fault: Bot API calls retried with bounded exponential backoff.

aiogram only backs off while polling `getUpdates`; any other call failing once (HTTP 5xx, a
dropped connection, a timeout, flood control) would lose the reply it carried.
"""

from __future__ import annotations

import asyncio
import logging
from http import HTTPStatus

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import ClientDecodeError, TelegramNetworkError, TelegramRetryAfter, TelegramServerError
from aiogram.methods import GetUpdates, Response, SendChatAction, SendMessageDraft, TelegramMethod

logger = logging.getLogger(__name__)

MAX_DELAY = 16.0
TRANSIENT = (TelegramServerError, TelegramNetworkError)


class ApiSession(AiohttpSession):
    """AiohttpSession that reads a 5xx page which is not JSON (a proxy's 502) as the server error it is."""

    def check_response(self, bot: Bot, method: TelegramMethod, status_code: int, content: str) -> Response:
        try:
            return super().check_response(bot, method, status_code, content)
        except ClientDecodeError:
            if status_code >= HTTPStatus.INTERNAL_SERVER_ERROR:
                raise TelegramServerError(method=method, message=f"HTTP {status_code}") from None
            raise


def backoff_delays(attempts: int, first_delay: float) -> list[float]:
    """Waits between `attempts` tries: first_delay, doubling, capped at MAX_DELAY."""
    return [min(first_delay * 2**retry, MAX_DELAY) for retry in range(attempts - 1)]


class RetryMiddleware(BaseRequestMiddleware):
    """Sends a call again after a transient failure or flood control, then logs the reply as lost.

    `getUpdates` is left to aiogram's polling backoff; `sendChatAction` ("typing…") and drafts are cosmetic, so they are
    tried once and a failure only logged: they must never hold up or break a reply.
    """

    def __init__(self, attempts: int = 8, first_delay: float = 0.5):
        self.delays = backoff_delays(attempts, first_delay)

    async def __call__(self, make_request: NextRequestMiddlewareType, bot: Bot, method: TelegramMethod) -> Response:
        if isinstance(method, GetUpdates):
            return await make_request(bot, method)
        if isinstance(method, (SendChatAction, SendMessageDraft)):
            return await self._best_effort(make_request, bot, method)
        for attempt, delay in enumerate(self.delays, start=1):
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as error:
                failure, delay = error, error.retry_after
            except TRANSIENT as error:
                failure = error
            logger.warning("%s failed (%s); try %d of %d in %g s", _name(method), _describe(failure),
                           attempt + 1, len(self.delays) + 1, delay)
            await asyncio.sleep(delay)
        try:
            return await make_request(bot, method)
        except (TelegramRetryAfter, *TRANSIENT) as error:
            _log_lost(method, len(self.delays) + 1, error)
            raise

    async def _best_effort(self, make_request: NextRequestMiddlewareType, bot: Bot, method: TelegramMethod) -> Response:
        try:
            return await make_request(bot, method)
        except (TelegramRetryAfter, *TRANSIENT) as error:
            logger.debug("%s to chat %s failed (%s); the reply goes on", _name(method), method.chat_id, _describe(error))
            return True


def _log_lost(method: TelegramMethod, attempts: int, error: Exception) -> None:
    chat_id = getattr(method, "chat_id", None)
    if chat_id is None:
        logger.error("%s failed %d times (%s); giving up", _name(method), attempts, _describe(error))
    else:
        logger.error("Reply lost: %s to chat %s failed %d times (%s)", _name(method), chat_id, attempts, _describe(error))


def _name(method: TelegramMethod) -> str:
    return method.__api_method__


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"
