"""Talk to a checkpoint in the terminal: /reset starts a new dialogue, /quit (or end of input) leaves.

Input is read as UTF-8 bytes line by line: a line in another encoding is named and skipped, and chat goes on;
a line with no visible text (only spaces, control or zero-width characters) gets no reply."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import BinaryIO

from ...config import CheckpointArguments

ARGUMENTS = (CheckpointArguments,)


def run(model: CheckpointArguments) -> None:
    from ...format import last_utterances
    from ...serving.generation import ChitChat

    chat = ChitChat.from_pretrained(model.checkpoint, device=model.device)
    print("Write a message; /reset starts a new dialogue, /quit (or end of input) leaves.")
    history: list[str] = []
    for text in typed_lines(sys.stdin.buffer):
        if text == "/quit":
            break
        if text == "/reset":
            history = []
            print("(new dialogue)")
            continue
        history.append(chat.truncate_utterance(text))
        answer = chat.reply(history)
        print(f"bot: {answer}", flush=True)
        history = last_utterances([*history, answer], chat.max_history)  # what the next prompt can read


def typed_lines(stream: BinaryIO, prompt: str = "> ") -> Iterator[str]:
    """Each line of `stream` with visible text, stripped; an undecodable line is reported on stderr and skipped."""
    from ...data.cleaning import clean_utterance

    number = 0
    while True:
        print(prompt, end="", flush=True)
        line = stream.readline()
        if not line:
            return
        number += 1
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as error:
            print(f"(line {number} is not UTF-8 text: byte 0x{line[error.start]:02x} at position {error.start}; "
                  "it was skipped — switch the terminal or the file to UTF-8)", file=sys.stderr, flush=True)
            continue
        if clean_utterance(text):
            yield text.strip()
