"""Talk to a checkpoint in the terminal: /reset starts a new dialogue, /quit (or end of input) leaves."""

from __future__ import annotations

from ...config import CheckpointArguments

ARGUMENTS = (CheckpointArguments,)


def run(model: CheckpointArguments) -> None:
    from ...format import last_utterances
    from ...serving.generation import ChitChat

    chat = ChitChat.from_pretrained(model.checkpoint, device=model.device)
    print("Write a message; /reset starts a new dialogue, /quit (or end of input) leaves.")
    history: list[str] = []
    while True:
        try:
            text = input("> ").strip()
        except EOFError:
            break
        if text == "/quit":
            break
        if text == "/reset":
            history = []
            print("(new dialogue)")
            continue
        if text:
            history.append(chat.truncate_utterance(text))
            answer = chat.reply(history)
            print(f"bot: {answer}", flush=True)
            history = last_utterances([*history, answer], chat.max_history)  # what the next prompt can read
