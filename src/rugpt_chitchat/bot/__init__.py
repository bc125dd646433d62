"""Telegram bot serving ChitChat models: `app` wires it, `handlers` talk to users, `batcher` batches generation,
`models` splits chats between checkpoints, `feedback` stores ratings, `retry` and `drain` keep replies from being lost."""

from .app import BotStartError, build_bot, build_dispatcher, read_token, run, serve
from .batcher import ReplyBatcher
from .settings import BotSettings, ServeArguments

__all__ = [
    "BotSettings", "BotStartError", "ReplyBatcher", "ServeArguments", "build_bot", "build_dispatcher", "read_token",
    "run", "serve",
]
