"""Serve checkpoints over an OpenAI-compatible chat API (POST /v1/chat/completions, GET /v1/models), speaker types kept.

Clients name a checkpoint by its directory's name, or by NAME given as --checkpoint NAME=DIR. The API key comes
from --api_key or the RUGPT_CHITCHAT_API_KEY variable (safer: a command line is visible to other users)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import PurePath

from ...config import DEVICE_HELP
from ...errors import DataError
from ...serving.bot.settings import BotSettings

API_KEY_ENV = "RUGPT_CHITCHAT_API_KEY"


@dataclass
class ApiArguments:
    checkpoint: list[str] = field(
        metadata={"help": "Checkpoint directories (or Hub names) to serve, each as DIR or NAME=DIR; clients pick one "
                  "by its name in the request's `model`."},
    )
    device: str | None = field(default=None, metadata={"help": DEVICE_HELP})
    host: str = field(default="127.0.0.1", metadata={"help": "Address to listen on (0.0.0.0: every interface)."})
    port: int = field(default=8000, metadata={"help": "Port to listen on."})
    api_key: str | None = field(
        default=None, repr=False,
        metadata={"help": f"Key clients must send as 'Authorization: Bearer KEY' (default: ${API_KEY_ENV}, else none)."},
    )
    max_batch_size: int = field(
        default=BotSettings.max_batch_size, metadata={"help": "Most requests answered by one generate call."}
    )
    max_wait_ms: float = field(default=20.0, metadata={"help": "How long a request waits for others to batch with."})
    max_n: int = field(default=8, metadata={"help": "Most choices (`n`) one request may ask for."})


ARGUMENTS = (ApiArguments,)


def model_names(checkpoints: list[str]) -> dict[str, str]:
    """NAME -> checkpoint, from 'NAME=DIR' or 'DIR' (named after its last path part)."""
    named: dict[str, str] = {}
    for item in checkpoints:
        name, _, path = item.partition("=") if "=" in item else (PurePath(item).name or item, "", item)
        if name in named:
            raise DataError(item, f"two checkpoints are named {name!r}; name them apart with NAME=DIR")
        named[name] = path
    return named


def run(arguments: ApiArguments) -> None:
    from ...serving.api import ChatApi, run as serve_until_stopped
    from ...serving.generation import ChitChat

    names = model_names(arguments.checkpoint)
    models = {name: ChitChat.from_pretrained(path, device=arguments.device) for name, path in names.items()}
    api_key = arguments.api_key or os.environ.get(API_KEY_ENV) or None
    api = ChatApi(models, api_key, arguments.max_batch_size, arguments.max_wait_ms / 1000, arguments.max_n)
    serve_until_stopped(api, arguments.host, arguments.port)
