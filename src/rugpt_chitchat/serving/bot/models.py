"""The models the bot serves: one, or several compared in an A/B test, each chat always talking to the same one.

A chat's model is picked by a stable hash of its id (SHA-256, not Python's salted `hash`), so it survives
restarts and is the same in every bot process; each model has its own `ReplyBatcher`, since one
`generate` call cannot mix models.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ...errors import DataError
from .batcher import ReplyBatcher

logger = logging.getLogger(__name__)


def checked_shares(names: Sequence[str], weights: Sequence[float] = ()) -> list[float]:
    """Each checkpoint's share of chats (summing to 1) from `weights` (default: equal); DataError when a checkpoint is
    named twice or the weights are not one finite positive number per checkpoint. Cheap: the CLI calls it before
    loading any model."""
    if not names:
        raise DataError("checkpoint", "no model to serve: give at least one --checkpoint")
    twice = sorted({name for name in names if list(names).count(name) > 1})
    if twice:
        raise DataError("checkpoint", f"{', '.join(twice)} named more than once; name each checkpoint once "
                        "(--ab_weights sets the shares)")
    weights = list(weights) or [1.0] * len(names)
    if len(weights) != len(names) or not all(math.isfinite(weight) and weight > 0 for weight in weights):
        raise DataError("ab_weights", f"expected {len(names)} finite positive shares, one per --checkpoint "
                        f"({', '.join(names)}); got {' '.join(map(str, weights))}")
    total = sum(weights)
    if not math.isfinite(total):
        raise DataError("ab_weights", f"the shares {' '.join(map(str, weights))} are too large to add up")
    return [weight / total for weight in weights]


class ChitChatLike(Protocol):
    """What the bot needs of `rugpt_chitchat.serving.generation.ChitChat`; any object with these will do."""

    max_history: int

    def reply_batch(self, histories: list[list[str]], **generation_kwargs: Any) -> list[str]: ...

    def truncate_utterance(self, text: str) -> str: ...


@dataclass
class Arm:
    """One model of the test: its name (the checkpoint), the model and its batcher."""

    name: str
    chitchat: ChitChatLike
    batcher: ReplyBatcher


class ModelPool:
    """The arms with their shares of chats; `for_chat(chat_id)` is the arm serving that chat."""

    def __init__(
        self,
        chitchats: Mapping[str, ChitChatLike],
        weights: Sequence[float] = (),
        max_batch_size: int = 16,
        max_wait: float = 0.05,
    ):
        shares = checked_shares(list(chitchats), weights)
        self.arms = [
            Arm(name, chitchat, ReplyBatcher(chitchat.reply_batch, max_batch_size, max_wait))
            for name, chitchat in chitchats.items()
        ]
        self.shares = dict(zip(chitchats, shares))
        self._bounds = list(itertools.accumulate(shares))

    def for_chat(self, chat_id: int) -> Arm:
        point = int.from_bytes(hashlib.sha256(str(chat_id).encode()).digest()[:8], "big") / 2**64
        return self.arms[min(bisect.bisect_right(self._bounds, point), len(self.arms) - 1)]

    async def start(self) -> None:
        for arm in self.arms:
            logger.info("Serving %s to %.1f %% of chats", arm.name, 100 * self.shares[arm.name])
        for arm in self.arms:
            await arm.batcher.start()

    async def stop(self) -> None:
        for arm in self.arms:
            await arm.batcher.stop()
