"""Serve a checkpoint as a Telegram bot. The token comes from TELEGRAM_BOT_TOKEN or --token_file."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..config import CheckpointArguments
from ..errors import DataError


@dataclass
class BotArguments:
    """Empty settings keep `BotSettings`' defaults."""

    token_file: str | None = field(default=None, metadata={"help": "File holding the bot token (instead of TELEGRAM_BOT_TOKEN)."})
    api_server: str | None = field(default=None, metadata={"help": "Base URL of a self-hosted Bot API server."})
    redis_url: str | None = field(
        default=None, metadata={"help": "redis:// URL: keep chat histories in Redis instead of memory.", "aliases": ["--redis"]}
    )
    webhook_url: str | None = field(default=None, metadata={"help": "Public URL for Telegram to post updates to (default: long polling)."})
    webhook_host: str | None = field(default=None, metadata={"help": "Address the webhook server listens on (0.0.0.0)."})
    webhook_port: int | None = field(default=None, metadata={"help": "Port of the webhook server (8080)."})
    allowed_user_ids: list[int] = field(
        default_factory=list,
        metadata={"help": "User ids allowed to chat (repeat or list them); default: everyone.",
                  "aliases": ["--allow-user", "--allow_user"], "action": "extend"},
    )
    max_batch_size: int | None = field(default=None, metadata={"help": "Most chats answered by one generate call (16)."})
    max_wait_ms: float | None = field(default=None, metadata={"help": "How long a request waits for others to batch with (50)."})
    rate_limit: str | None = field(default=None, metadata={"help": "MESSAGES/SECONDS per chat such as 20/60 (the default), or 'off'."})


ARGUMENTS = (CheckpointArguments, BotArguments)


def parse_rate_limit(text: str) -> tuple[int, float] | None:
    """'20/60' -> (20, 60.0) messages per seconds; 'off' -> None."""
    if text == "off":
        return None
    messages, _, seconds = text.partition("/")
    try:
        return int(messages), float(seconds)
    except ValueError:
        raise DataError("rate_limit", f"expected MESSAGES/SECONDS such as 20/60, or 'off'; got {text!r}") from None


def run(model: CheckpointArguments, args: BotArguments) -> None:
    from ..bot import BotSettings, read_token, run as serve_forever
    from ..generation import ChitChat

    settings = {name: value for name, value in vars(args).items() if value is not None and name != "token_file"}
    settings["allowed_user_ids"] = tuple(args.allowed_user_ids)
    if args.rate_limit is not None:
        settings["rate_limit"] = parse_rate_limit(args.rate_limit)
    settings = BotSettings(token=read_token(args.token_file), **settings)
    serve_forever(ChitChat.from_pretrained(model.checkpoint, device=model.device), settings)
