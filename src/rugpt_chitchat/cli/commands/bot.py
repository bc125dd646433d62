"""Serve checkpoints as a Telegram bot (several: an A/B test). The token comes from TELEGRAM_BOT_TOKEN or --token_file.

A rejected token or a Bot API still unreachable after the retries ends as one error line and exit status 2."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...serving.bot.settings import BotSettings, Extend
from ...config import DEVICE_HELP


@dataclass
class ServeArguments:
    checkpoint: list[str] = field(
        metadata={"help": "Checkpoint directory (or Hub name); give several to compare them: each chat is served "
                  "by one, picked by a stable hash of its id (see --ab_weights).", "action": Extend},
    )
    device: str | None = field(default=None, metadata={"help": DEVICE_HELP})
    token_file: str | None = field(
        default=None, metadata={"help": "File holding the bot token (default: the TELEGRAM_BOT_TOKEN variable)."}
    )


ARGUMENTS = (ServeArguments, BotSettings)


def run(serve: ServeArguments, settings: BotSettings) -> None:
    from ...serving.bot import check_redis, read_token, run as serve_until_stopped
    from ...serving.bot.feedback import FeedbackStore
    from ...serving.bot.models import checked_shares
    from ...serving.generation import ChitChat

    # every check before loading models, which takes long: a bad argument is found at once
    checked_shares(serve.checkpoint, settings.ab_weights)
    if settings.feedback:
        FeedbackStore(settings.feedback_db).close()  # a file that is not a feedback database is refused now
    token = read_token(serve.token_file)
    check_redis(settings)
    chitchats = {checkpoint: ChitChat.from_pretrained(checkpoint, device=serve.device) for checkpoint in serve.checkpoint}
    serve_until_stopped(chitchats, settings, token)
