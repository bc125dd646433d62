"""Telegram bot serving ChitChat models: `app` wires it, `handlers` talk to users, `batcher` batches generation,
`models` splits chats between checkpoints, `feedback` stores ratings, `retry` and `drain` keep replies from being lost.

The names below are imported on first use (module `__getattr__`, as the package does), so `bot.settings` and
`bot.feedback` load without aiogram.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_EXPORTS = {
    "BotSettings": "settings",
    "BotStartError": "app",
    "ReplyBatcher": "batcher",
    "build_bot": "app",
    "build_dispatcher": "app",
    "read_token": "app",
    "run": "app",
    "serve": "app",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from .app import BotStartError, build_bot, build_dispatcher, read_token, run, serve
    from .batcher import ReplyBatcher
    from .settings import BotSettings


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
