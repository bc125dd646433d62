"""Wiring of the bot: settings, Bot with its HTTP session, Dispatcher, long polling or webhook.

`build_dispatcher` takes any object with the `ChitChat` protocol (`max_history`,
`reply_batch`, `truncate_utterance`), so the bot runs the same with a real checkpoint or a
stand-in. The token is never printed, and is redacted from log records while the bot serves.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
from collections.abc import Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramRetryAfter
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage, StorageKey
from aiogram.fsm.storage.memory import MemoryStorage, SimpleEventIsolation
from aiogram.fsm.strategy import FSMStrategy
from aiogram.methods import Response, TelegramMethod

from ..errors import DataError
from .batcher import ReplyBatcher
from .handlers import ChitChatLike, build_router

logger = logging.getLogger(__name__)

TOKEN_ENV = "TELEGRAM_BOT_TOKEN"


@dataclass
class BotSettings:
    """Everything the bot needs besides the model; the CLI's `bot` subcommand fills it."""

    token: str = field(repr=False)
    api_server: str | None = None  # base URL of a self-hosted Bot API server; None: api.telegram.org
    redis_url: str | None = field(default=None, repr=False)  # may carry a password
    webhook_url: str | None = None  # public HTTPS URL Telegram posts to; None: long polling
    webhook_host: str = "0.0.0.0"
    webhook_port: int = 8080
    allowed_user_ids: tuple[int, ...] = ()  # empty: everyone may talk to the bot
    max_batch_size: int = 16
    max_wait_ms: float = 50.0
    rate_limit: tuple[int, float] | None = (20, 60.0)  # (messages, seconds) per chat; None: no limit
    retry_after_attempts: int = 3
    polling_timeout: int = 10


def read_token(token_file: str | None = None) -> str:
    """The bot token from `token_file` if given, else from the TELEGRAM_BOT_TOKEN environment variable."""
    if token_file is not None:
        token = Path(token_file).read_text(encoding="utf-8").strip()
        if not token:
            raise DataError(token_file, "the token file is empty")
        return token
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise DataError(TOKEN_ENV, "no bot token: set the environment variable or pass --token-file")
    return token


class RetryAfterMiddleware(BaseRequestMiddleware):
    """Waits the `retry_after` Telegram asks for (HTTP 429) and sends the request again.

    aiogram itself only backs off while polling `getUpdates`; every other request would fail.
    """

    def __init__(self, attempts: int = 3):
        self.attempts = attempts

    async def __call__(self, make_request: NextRequestMiddlewareType, bot: Bot, method: TelegramMethod) -> Response:
        for _ in range(self.attempts):
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as error:
                logger.warning("Flood control on %s: retrying in %d s", type(method).__name__, error.retry_after)
                await asyncio.sleep(error.retry_after)
        return await make_request(bot, method)


def build_bot(settings: BotSettings) -> Bot:
    """A Bot talking to Telegram or to `settings.api_server`, retrying after flood control."""
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.api_server)) if settings.api_server else AiohttpSession()
    session.middleware(RetryAfterMiddleware(settings.retry_after_attempts))
    return Bot(settings.token, session=session)


def build_storage(redis_url: str | None) -> tuple[BaseStorage, BaseEventIsolation]:
    """FSM storage for the histories and the lock that serialises one chat's updates."""
    if redis_url is None:
        return MemoryStorage(), SimpleEventIsolation()
    try:
        from aiogram.fsm.storage.redis import RedisStorage
    except ImportError as error:
        raise RuntimeError("--redis needs the redis package: pip install 'rugpt-chitchat[redis]'") from error
    storage = RedisStorage.from_url(redis_url)
    return storage, QueuedRedisIsolation(storage.create_isolation())


class QueuedRedisIsolation(BaseEventIsolation):
    """The Redis lock per chat (across processes), taken in arrival order within this process.

    redis-py's lock is polled every 0.1 s, not queued, so alone it lets a chat's later message
    overtake an earlier one; a FIFO asyncio lock per chat in front of it keeps the order.
    """

    def __init__(self, redis_isolation: BaseEventIsolation):
        self.local = SimpleEventIsolation()
        self.redis = redis_isolation

    @asynccontextmanager
    async def lock(self, key: StorageKey):
        async with self.local.lock(key), self.redis.lock(key):
            yield

    async def close(self) -> None:
        await self.local.close()
        await self.redis.close()


def build_dispatcher(chitchat: ChitChatLike, settings: BotSettings) -> Dispatcher:
    """Dispatcher with per-chat FSM history, one ReplyBatcher over `chitchat`, and the bot's routers."""
    storage, isolation = build_storage(settings.redis_url)
    batcher = ReplyBatcher(chitchat.reply_batch, settings.max_batch_size, settings.max_wait_ms / 1000)
    # Isolation runs one chat's updates in order, so each reply sees the history the previous one left.
    dispatcher = Dispatcher(
        storage=storage, events_isolation=isolation, fsm_strategy=FSMStrategy.CHAT, chitchat=chitchat, batcher=batcher
    )
    dispatcher.startup.register(batcher.start)
    dispatcher.shutdown.register(batcher.stop)
    dispatcher.include_router(build_router(settings.allowed_user_ids, settings.rate_limit))
    return dispatcher


class _RedactToken(logging.Filter):
    def __init__(self, token: str):
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        message = record.getMessage()
        if self.token in message:
            record.msg, record.args = message.replace(self.token, "<token>"), ()
        if record.exc_text and self.token in record.exc_text:
            record.exc_text = record.exc_text.replace(self.token, "<token>")
        return True


@contextmanager
def token_redacted_from_logs(token: str) -> Iterator[None]:
    """Redact `token` in every record the root logger's handlers emit (errors may quote request URLs)."""
    redact = _RedactToken(token)
    handlers = list(logging.getLogger().handlers)
    for handler in handlers:
        handler.addFilter(redact)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(redact)


async def serve(bot: Bot, dispatcher: Dispatcher, settings: BotSettings, handle_signals: bool = True) -> None:
    """Serve until SIGINT/SIGTERM (or `dispatcher.stop_polling()`): long polling, or a webhook when configured."""
    with token_redacted_from_logs(settings.token):
        if settings.webhook_url:
            await _serve_webhook(bot, dispatcher, settings, handle_signals)
        else:
            await bot.delete_webhook()  # Telegram refuses getUpdates while a webhook is set
            await dispatcher.start_polling(bot, polling_timeout=settings.polling_timeout, handle_signals=handle_signals)


async def _serve_webhook(bot: Bot, dispatcher: Dispatcher, settings: BotSettings, handle_signals: bool) -> None:
    from aiohttp import web
    from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application

    secret = secrets.token_urlsafe(32)  # Telegram echoes it in a header, so forged posts are refused
    app = web.Application()
    SimpleRequestHandler(dispatcher, bot, secret_token=secret).register(app, path=urlsplit(settings.webhook_url).path or "/")
    setup_application(app, dispatcher, bot=bot)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.webhook_host, settings.webhook_port).start()
        await bot.set_webhook(settings.webhook_url, secret_token=secret, allowed_updates=dispatcher.resolve_used_update_types())
        logger.info("Webhook %s served on %s:%d", settings.webhook_url, settings.webhook_host, settings.webhook_port)
        await _until_stopped(handle_signals)
    finally:
        await runner.cleanup()
        await bot.session.close()


async def _until_stopped(handle_signals: bool) -> None:
    stopped = asyncio.Event()
    if handle_signals:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopped.set)
    await stopped.wait()
    logger.info("Webhook server stopping")


def run(chitchat: ChitChatLike, settings: BotSettings) -> None:
    """Blocking entry point of `rugpt-chitchat bot`."""
    asyncio.run(serve(build_bot(settings), build_dispatcher(chitchat, settings), settings))
