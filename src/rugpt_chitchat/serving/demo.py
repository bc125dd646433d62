"""A web chat with a checkpoint (`rugpt-chitchat demo`): Gradio's ChatInterface, a history per browser session.

The prompt is `ChitChat`'s (speaker types, the last `max_history` utterances, the checkpoint's generation
settings), as in `chat` and the bot; the reply grows on screen word by word while it is generated. Gradio
queues the sessions' messages and answers one at a time (no batching: a demo, not a server; see `serve`).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

from .generation import ChitChat

TITLE = "rugpt-chitchat"
DESCRIPTION = "Болтаем с моделью: она помнит последние реплики разговора. Корзина над чатом начинает разговор заново."


def history_of(turns: list[Any], message: str, chat: ChitChat) -> list[str]:
    """Gradio's messages (dicts with role and content, content a string or text parts) plus the new message,
    as the utterances `ChitChat` reads."""
    history = []
    for turn in turns:
        content = turn["content"] if isinstance(turn, dict) else turn.content
        if isinstance(content, list):
            content = " ".join(part.get("text", "") for part in content if isinstance(part, dict))
        if isinstance(content, str) and content.strip():
            history.append(chat.truncate_utterance(content))
    return [*history, chat.truncate_utterance(message)]


def replies(chat: ChitChat, history: list[str]) -> Iterator[str]:
    """The reply so far, each time it gains a word, then the reply itself (generated in a thread)."""
    pieces: queue.Queue[str | None] = queue.Queue()
    result: list[str] = []
    errors: list[BaseException] = []

    def generate() -> None:
        try:
            result.append(chat.reply(history, on_text=lambda row, text: pieces.put(text)))
        except BaseException as error:  # re-raised in the caller's thread below
            errors.append(error)
        finally:
            pieces.put(None)

    threading.Thread(target=generate, name="demo-generate", daemon=True).start()
    while (piece := pieces.get()) is not None:
        yield piece
    if errors:
        raise errors[0]
    yield result[0]


def build_demo(chat: ChitChat):
    """The Gradio Blocks of the chat (call `.launch()` on it)."""
    import gradio as gr

    def respond(message: str, turns: list[Any]) -> Iterator[str]:
        if not message.strip():
            yield "Напишите что-нибудь."
            return
        yield from replies(chat, history_of(turns, message, chat))

    # replies are plain text: markdown would eat a model's stray * and _
    return gr.ChatInterface(respond, title=TITLE, description=DESCRIPTION, flagging_mode="never",
                            chatbot=gr.Chatbot(label="Диалог", height=420, render_markdown=False))  # fmt: skip


def run(chat: ChitChat, host: str = "127.0.0.1", port: int = 7860, share: bool = False) -> None:
    """Serve the web chat until interrupted."""
    build_demo(chat).queue().launch(server_name=host, server_port=port, share=share, show_error=False)
