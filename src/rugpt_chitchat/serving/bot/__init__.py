"""Telegram bot serving ChitChat models: `app` wires it, `handlers` talk to users, `batcher` batches generation,
`models` splits chats between checkpoints, `feedback` stores ratings, `retry` and `drain` keep replies from being lost,
`drafts` streams replies into private chats while they are generated.

The names below are imported on first use (module `__getattr__`, as the package does), so `bot.settings` and
`bot.feedback` load without aiogram.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...lazy import lazy_exports

_EXPORTS = {
    "BotSettings": "settings",
    "BotStartError": "app",
    "ReplyBatcher": "batcher",
    "build_bot": "app",
    "build_dispatcher": "app",
    "check_redis": "app",
    "read_token": "app",
    "run": "app",
    "serve": "app",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from .app import BotStartError, build_bot, build_dispatcher, check_redis, read_token, run, serve
    from .batcher import ReplyBatcher
    from .settings import BotSettings


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
