"""Wiring of the bot: the Bot with its retrying HTTP session, the Dispatcher, long polling or a webhook.

`build_dispatcher` takes any object with the `ChitChat` protocol (`max_history`, `reply_batch`,
`truncate_utterance`), or a mapping of names to such objects (an A/B test), so the bot runs the same
with real checkpoints or stand-ins. The token is never printed: it is redacted from every log record
while the bot runs, and start-up failures (the Bot API or Redis unreachable, a token refused) become a
`BotStartError` with a clean message.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from aiogram import Bot
from aiogram.client.telegram import PRODUCTION, TelegramAPIServer
from aiogram.exceptions import (
    TelegramNetworkError, TelegramNotFound, TelegramRetryAfter, TelegramServerError, TelegramUnauthorizedError,
)  # fmt: skip
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage
from aiogram.fsm.strategy import FSMStrategy
from aiogram.types import User

from ...errors import DataError
from .drain import DrainingDispatcher
from .feedback import FeedbackStore
from .handlers import build_router
from .models import ChitChatLike, ModelPool
from .retry import ApiSession, RetryMiddleware
from .settings import BotSettings
from .storage import PatientStorage, StorageUnavailable, build_storage

logger = logging.getLogger(__name__)

TOKEN_ENV = "TELEGRAM_BOT_TOKEN"


def read_token(token_file: str | None = None) -> str:
    """The bot token from `token_file` if given, else from the TELEGRAM_BOT_TOKEN environment variable."""
    if token_file is not None:
        if not Path(token_file).is_file():
            raise DataError(token_file, "token file not found")
        token = Path(token_file).read_text(encoding="utf-8").strip()
        if not token:
            raise DataError(token_file, "the token file is empty")
        return token
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise DataError(TOKEN_ENV, "no bot token: set the environment variable or pass --token_file")
    return token


class BotStartError(DataError):
    """The bot could not start: the Bot API (the source) rejected the token, or did not answer."""


def build_bot(token: str, settings: BotSettings) -> Bot:
    """A Bot talking to Telegram or to `settings.api_server`, retrying failed calls with backoff."""
    api = TelegramAPIServer.from_base(settings.api_server) if settings.api_server else PRODUCTION
    session = ApiSession(api=api, timeout=settings.request_timeout)
    session.middleware(RetryMiddleware(settings.retry_attempts, settings.retry_first_delay))
    return Bot(token, session=session)


def build_dispatcher(chitchat: ChitChatLike | Mapping[str, ChitChatLike], settings: BotSettings) -> DrainingDispatcher:
    """Dispatcher with per-chat FSM history, a batcher per model, the feedback store if asked, and the routers."""
    chitchats = chitchat if isinstance(chitchat, Mapping) else {"default": chitchat}
    models = ModelPool(chitchats, settings.ab_weights, settings.max_batch_size, settings.max_wait_ms / 1000)
    storage, isolation = settings_storage(settings)
    feedback = FeedbackStore(settings.feedback_db) if settings.feedback else None
    # Isolation runs one chat's updates in order, so each reply sees the history the previous one left.
    dispatcher = DrainingDispatcher(
        storage=storage, events_isolation=isolation, fsm_strategy=FSMStrategy.CHAT, models=models, feedback=feedback,
        stream=settings.stream,
    )
    dispatcher.startup.register(models.start)
    dispatcher.shutdown.register(models.stop)
    if feedback is not None:
        dispatcher.shutdown.register(feedback.close)
    dispatcher.include_router(build_router(settings.allow_user, settings.rate_limit_window))
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


async def serve(bot: Bot, dispatcher: DrainingDispatcher, settings: BotSettings, handle_signals: bool = True) -> None:
    """Serve until SIGINT/SIGTERM (or `dispatcher.stop_gracefully()`): long polling, or a webhook when configured.

    Raises BotStartError, with the bot's session and storage closed, when it cannot connect.
    """
    with token_redacted_from_logs(bot.token):
        try:
            await storage_ready(dispatcher.fsm.storage)
            await connect(bot, settings)
        except BaseException:
            await bot.session.close()
            await dispatcher.fsm.close()
            raise
        if settings.webhook_url:
            await _serve_webhook(bot, dispatcher, settings, handle_signals)
        else:
            bot.session.middleware(dispatcher.fetched)
            if handle_signals:
                _on_stop_signal(lambda: dispatcher.stop_gracefully(settings.shutdown_timeout))
            await dispatcher.start_polling(bot, polling_timeout=settings.polling_timeout, handle_signals=False)


def settings_storage(settings: BotSettings) -> tuple[BaseStorage, BaseEventIsolation]:
    """The chat histories' storage and lock the settings ask for (Redis retried like the Bot API)."""
    return build_storage(settings.redis, settings.history_ttl, settings.redis_lock_lease,
                         settings.retry_attempts, settings.retry_first_delay)


def check_redis(settings: BotSettings) -> None:
    """BotStartError unless the --redis server answers (through the retries): the CLI asks before loading models."""
    if settings.redis is None:
        return

    async def ping() -> None:
        storage, _ = settings_storage(settings)
        try:
            await storage_ready(storage)
        finally:
            await storage.close()

    asyncio.run(ping())


async def storage_ready(storage) -> None:
    """Waits for Redis through the retries, so a wrong --redis stops the bot before it takes any message."""
    if isinstance(storage, PatientStorage):
        try:
            await storage.ping()
        except StorageUnavailable as error:
            raise BotStartError(storage.where, f"Redis gave {error}; check --redis and that redis-server runs") from None
        logger.info("Chat histories in Redis at %s", storage.where)


async def connect(bot: Bot, settings: BotSettings) -> User:
    """Who the bot is (`getMe`), after removing any webhook when polling; transient failures are retried first."""
    api = settings.api_server or "https://api.telegram.org"
    try:
        if not settings.webhook_url:
            await bot.delete_webhook()  # Telegram refuses getUpdates while a webhook is set
        me = await bot.me()
    except (TelegramUnauthorizedError, TelegramNotFound):
        raise BotStartError(api, "the Bot API rejected the bot token; check TELEGRAM_BOT_TOKEN or --token_file") from None
    except (TelegramNetworkError, TelegramServerError, TelegramRetryAfter) as error:
        reason = f"{type(error).__name__}: {error}".replace(bot.token, "<token>")
        raise BotStartError(
            api, f"no answer after {settings.retry_attempts} tries ({reason}); check --api_server and the network"
        ) from None
    logger.info("Connected to %s as @%s", api, me.username)
    return me


def _on_stop_signal(stop: Callable[[], Awaitable[None]]) -> None:
    """Run `stop()` once on the first SIGINT or SIGTERM."""
    loop = asyncio.get_running_loop()
    stopping: list[asyncio.Future] = []  # holds the task, so it is not garbage-collected while it runs

    def on_signal(sig: signal.Signals) -> None:
        logger.info("Received %s", sig.name)
        if not stopping:
            stopping.append(asyncio.ensure_future(stop()))

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)


async def _serve_webhook(bot: Bot, dispatcher: DrainingDispatcher, settings: BotSettings, handle_signals: bool) -> None:
    """An aiohttp app answering Telegram's posts; on stop, the posts in flight are answered before shutdown.

    Updates are handled before Telegram gets its 200 (not in the background), so one the bot could not
    answer is posted again, and aiohttp's graceful shutdown (`shutdown_timeout`) is the drain.
    """
    from aiohttp import web
    from aiogram.webhook.aiohttp_server import SimpleRequestHandler

    secret = secrets.token_urlsafe(32)  # Telegram echoes it in a header, so forged posts are refused
    app = web.Application()
    handler = SimpleRequestHandler(dispatcher, bot, secret_token=secret, handle_in_background=False)
    app.router.add_post(urlsplit(settings.webhook_url).path or "/", handler.handle)
    runner = web.AppRunner(app, shutdown_timeout=settings.shutdown_timeout)
    await runner.setup()
    await dispatcher.emit_startup(bot=bot)
    try:
        await web.TCPSite(runner, settings.webhook_host, settings.webhook_port).start()
        await bot.set_webhook(settings.webhook_url, secret_token=secret, allowed_updates=dispatcher.resolve_used_update_types())
        logger.info("Webhook %s served on %s:%d", settings.webhook_url, settings.webhook_host, settings.webhook_port)
        await _until_stopped(handle_signals)
    finally:
        await runner.cleanup()
        await dispatcher.emit_shutdown(bot=bot)
        await bot.session.close()


async def _until_stopped(handle_signals: bool) -> None:
    stopped = asyncio.Event()

    async def stop() -> None:
        stopped.set()

    if handle_signals:
        _on_stop_signal(stop)
    await stopped.wait()
    logger.info("Webhook server stopping")


def run(chitchat: ChitChatLike | Mapping[str, ChitChatLike], settings: BotSettings, token: str) -> None:
    """Blocking entry point of `rugpt-chitchat bot`: serves until SIGINT/SIGTERM.

    Raises DataError for bad settings and BotStartError when the bot cannot connect; any other failure is logged with its traceback (token
    redacted) and raised as a RuntimeError whose message and traceback hold no token.
    """
    with token_redacted_from_logs(token):
        try:
            asyncio.run(serve(build_bot(token, settings), build_dispatcher(chitchat, settings), settings))
        except DataError:  # bad settings or a start refused: the user's to fix, and said without the token
            raise
        except Exception as error:
            logger.exception("The bot stopped on an unexpected error")
            raise RuntimeError(f"the bot stopped on an unexpected {type(error).__name__} (see the log above)") from None
