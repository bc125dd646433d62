"""How the bot behaves (`BotSettings`): a dataclass with `help` metadata, which `rugpt-chitchat bot` fills with
`parse_config`, so every setting can come from `--config bot.yaml` or the command line.

The token is not a setting: it comes from TELEGRAM_BOT_TOKEN or `--token_file`, never from a command line
other users can read. Light to import (no aiogram), so `--help` stays instant.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from urllib.parse import urlsplit


class Extend(argparse.Action):
    """A list flag given several times adds up (`--checkpoint A --checkpoint B` as `--checkpoint A B`); on the
    command line it replaces the list a --config file gave."""

    def __call__(self, parser, namespace, values, option_string=None):
        current = getattr(namespace, self.dest, None)
        setattr(namespace, self.dest, [*([] if current is None or current is self.default else current), *values])


@dataclass
class BotSettings:
    """Everything the bot needs besides the models and the token."""

    api_server: str | None = field(default=None, metadata={"help": "Base URL of a self-hosted Bot API server."})
    redis: str | None = field(
        default=None, repr=False,  # the URL may carry a password
        metadata={"help": "redis:// URL: chat histories in Redis (shared, survive restarts) instead of memory."},
    )
    history_ttl: int | None = field(
        default=None, metadata={"help": "Seconds after a chat's last message its history is forgotten (needs --redis)."}
    )
    redis_lock_lease: float = field(
        default=5.0,
        metadata={"help": "Seconds a chat's Redis lock outlives a killed bot; renewed while the bot works."},
    )
    webhook_url: str | None = field(
        default=None, metadata={"help": "Public URL Telegram posts updates to (default: long polling)."}
    )
    webhook_host: str = field(default="0.0.0.0", metadata={"help": "Address the webhook server listens on."})
    webhook_port: int = field(default=8080, metadata={"help": "Port the webhook server listens on."})
    allow_user: list[int] = field(
        default_factory=list, metadata={"help": "User ids allowed to talk to the bot (default: everyone)."}
    )
    max_batch_size: int = field(default=16, metadata={"help": "Most chats answered by one generate call."})
    max_wait_ms: float = field(default=50.0, metadata={"help": "How long a message waits for others to batch with."})
    stream: bool = field(
        default=True, metadata={"help": "In private chats, show the reply growing as a draft while it is generated."}
    )
    rate_limit: str = field(default="20/60", metadata={"help": "MESSAGES/SECONDS per chat, or 'off'."})
    ab_weights: list[float] = field(
        default_factory=list,
        metadata={"help": "Share of chats for each --checkpoint, in order (default: equal shares).", "action": Extend},
    )
    feedback: bool = field(default=False, metadata={"help": "Put 👍/👎 buttons under every reply and store the presses."})
    feedback_db: str = field(default="feedback.sqlite3", metadata={"help": "SQLite file of the replies and ratings."})
    shutdown_timeout: float = field(
        default=30.0, metadata={"help": "On SIGTERM/SIGINT, seconds to answer the messages already fetched."}
    )
    retry_attempts: int = field(
        default=8, metadata={"help": "Tries of a Bot API call failing with 5xx, a network error or a timeout, "
                             "and of a Redis call while Redis is unreachable (the message waits meanwhile)."}
    )
    retry_first_delay: float = field(
        default=0.5, metadata={"help": "Seconds before the first retry; each next wait doubles (up to 16 s)."}
    )
    request_timeout: float = field(default=30.0, metadata={"help": "Seconds one Bot API call may take."})
    polling_timeout: int = field(default=10, metadata={"help": "Seconds one getUpdates long poll waits."})

    def __post_init__(self) -> None:
        self.rate_limit_window  # refuse a malformed --rate_limit now, not at the first message
        if self.redis is not None and urlsplit(self.redis).scheme not in ("redis", "rediss", "unix"):
            # the URL itself is not repeated: it may carry a password
            raise ValueError("--redis: expected a URL such as redis://HOST:PORT/DB (or rediss://, unix://)")
        if self.history_ttl is not None and not self.redis:
            raise ValueError("--history_ttl needs --redis: the in-memory storage keeps histories until restart")
        if self.retry_attempts < 1:
            raise ValueError(f"--retry_attempts must be at least 1, got {self.retry_attempts}")

    @property
    def rate_limit_window(self) -> tuple[int, float] | None:
        """'20/60' -> (20, 60.0) messages per seconds; 'off' -> None."""
        if self.rate_limit == "off":
            return None
        messages, _, seconds = self.rate_limit.partition("/")
        try:
            return int(messages), float(seconds)
        except ValueError:
            raise ValueError(f"--rate_limit: expected MESSAGES/SECONDS such as 20/60, or 'off'; got {self.rate_limit!r}") from None
