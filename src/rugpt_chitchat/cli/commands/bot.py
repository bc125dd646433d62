"""Serve checkpoints as a Telegram bot (several: an A/B test). The token comes from TELEGRAM_BOT_TOKEN or --token_file.

A rejected token or a Bot API still unreachable after the retries ends as one error line and exit status 2."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...serving.bot.settings import BotSettings
from ...config import DEVICE_HELP


@dataclass
class ServeArguments:
    checkpoint: list[str] = field(
        metadata={"help": "Checkpoint directory (or Hub name); give several to compare them: each chat is served "
                  "by one, picked by a stable hash of its id (see --ab_weights)."},
    )
    device: str | None = field(default=None, metadata={"help": DEVICE_HELP})
    token_file: str | None = field(
        default=None, metadata={"help": "File holding the bot token (default: the TELEGRAM_BOT_TOKEN variable)."}
    )


ARGUMENTS = (ServeArguments, BotSettings)


def run(serve: ServeArguments, settings: BotSettings) -> None:
    from ...serving.bot import read_token, run as serve_until_stopped
    from ...serving.generation import ChitChat

    token = read_token(serve.token_file)  # before loading models: a missing token is found at once
    chitchats = {checkpoint: ChitChat.from_pretrained(checkpoint, device=serve.device) for checkpoint in serve.checkpoint}
    serve_until_stopped(chitchats, settings, token)
