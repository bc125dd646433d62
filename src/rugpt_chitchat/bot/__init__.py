"""Telegram bot serving a ChitChat model: `app` wires it, `handlers` talk to users, `batcher` batches generation."""

from .app import BotSettings, build_bot, build_dispatcher, read_token, run, serve
from .batcher import ReplyBatcher

__all__ = ["BotSettings", "ReplyBatcher", "build_bot", "build_dispatcher", "read_token", "run", "serve"]
