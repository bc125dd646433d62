"""Streaming a batched `generate` call: each row's text as it grows, in whole words, to whoever waits for that row.

`WordStreamer` is what `ChitChat.reply_batch(on_text=...)` hands to `generate`; it runs in the generating
thread. `SafeDeltas` turns those growing texts into API deltas that never need taking back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from transformers.generation.streamers import BaseStreamer

from ..data.cleaning import clean_utterance, has_words, normalize_utterance

OnText = Callable[[int, str], None]  # (row of the batch, that row's text so far)


class WordStreamer(BaseStreamer):
    """Decodes each row of a batch as tokens arrive and calls `on_text(row, text)` whenever the row gained a
    whole word (the text up to its last space); at the end, each row's whole text once more.

    A row stops growing at its first stop token (later tokens are padding); the prompt, which `generate`
    puts first, is skipped.
    """

    def __init__(self, decode: Callable[[list[int]], str], on_text: OnText, stop_ids: Sequence[int]):
        self.decode = decode
        self.on_text = on_text
        self.stop_ids = set(stop_ids)
        self._rows: list[list[int]] | None = None
        self._finished: list[bool] = []
        self._sent: list[str] = []

    def put(self, value: torch.Tensor) -> None:
        if self._rows is None:  # the prompt
            rows = value.shape[0]
            self._rows, self._finished, self._sent = [[] for _ in range(rows)], [False] * rows, [""] * rows
            return
        for row, token in enumerate(value.reshape(-1).tolist()):
            if self._finished[row]:
                continue
            if token in self.stop_ids:
                self._finished[row] = True
                continue
            self._rows[row].append(token)
            text = self.decode(self._rows[row])
            words = text[: max(text.rfind(" "), 0)].strip()
            if len(words) > len(self._sent[row]):
                self._send(row, words)

    def end(self) -> None:
        for row, tokens in enumerate(self._rows or []):
            text = self.decode(tokens).strip()
            if text != self._sent[row]:
                self._send(row, text)

    def _send(self, row: int, text: str) -> None:
        self._sent[row] = text
        self.on_text(row, text)


class SafeDeltas:
    """The parts of a streamed reply that the finished reply is sure to start with, as deltas.

    `ChitChat` cleans a reply, cuts an unfinished one after its last sentence end and redraws one without
    words or one repeating the user. So only whole sentences are let out, once they hold words and are no
    longer a possible echo of `user`; `stop` strings cut the text as they cut the final reply. `finish(reply)`
    gives the rest of the final reply.
    """

    def __init__(self, user: str, stop: Sequence[str] = ()):
        self.user = normalize_utterance(user)
        self.stop = list(stop)
        self.sent = ""

    def delta(self, text: str) -> str:
        """What of `text` (the raw text so far) can be sent now that was not sent before ("" if nothing)."""
        text = cut_at_stop(clean_utterance(text), self.stop)[0]
        text = text[: max(text.rfind(mark) for mark in ".!?…") + 1]  # an unfinished reply keeps whole sentences
        if any(text.endswith(stop[:size]) for stop in self.stop for size in range(1, len(stop))):
            return ""  # a stop string may be forming
        if not has_words(text) or self.user.startswith(normalize_utterance(text)) or not text.startswith(self.sent):
            return ""
        new, self.sent = text[len(self.sent) :], text
        return new

    def finish(self, reply: str) -> str:
        """The rest of `reply` after what was sent; the whole of it if a redraw changed its start."""
        if not reply.startswith(self.sent):
            return reply
        rest, self.sent = reply[len(self.sent) :], reply
        return rest


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """`text` before the first of the `stop` strings, and whether one was found (OpenAI's `stop`)."""
    cuts = [index for index in (text.find(s) for s in stop if s) if index >= 0]
    return (text[: min(cuts)].rstrip(), True) if cuts else (text, False)
