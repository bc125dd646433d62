"""Talk to a checkpoint in the browser: a Gradio web chat (needs the extra: pip install 'rugpt-chitchat[demo]')."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...config import CheckpointArguments


@dataclass
class DemoArguments:
    host: str = field(default="127.0.0.1", metadata={"help": "Address to listen on (0.0.0.0: every interface)."})
    port: int = field(default=7860, metadata={"help": "Port to listen on."})
    share: bool = field(default=False, metadata={"help": "Also publish a temporary public link through Gradio's servers."})


ARGUMENTS = (CheckpointArguments, DemoArguments)


def run(model: CheckpointArguments, demo: DemoArguments) -> None:
    try:
        import gradio  # noqa: F401
    except ImportError as error:
        raise RuntimeError("the web chat needs Gradio: pip install 'rugpt-chitchat[demo]'") from error
    from ...serving.demo import run as serve_until_stopped
    from ...serving.generation import ChitChat

    serve_until_stopped(ChitChat.from_pretrained(model.checkpoint, device=model.device), demo.host, demo.port, demo.share)
