"""rugpt-chitchat: fine-tune a Russian GPT into a history-aware chit-chat model, evaluate it, serve it.

Every name a user needs is importable from here. They are imported on first use (module `__getattr__`, as
transformers does), so importing the package, and `rugpt-chitchat --help`, load neither torch, transformers,
datasets nor aiogram.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .lazy import lazy_exports

_EXPORTS = {
    "DataError": "errors",
    "DialogueFormat": "format",
    "build_segments": "format",
    "add_dialogue_special_tokens": "tokenizer",
    "train_tokenizer": "tokenizer",
    "read_dialogues": "data.readers",
    "PipelineConfig": "config",
    "prepare_dataset": "data.samples",
    "preprocess_data_for_model": "data.samples",
    "read_books": "books.library",
    "ExtractArguments": "books.extract",
    "extract_library": "books.extract",
    "DialogueCollator": "training.collator",
    "PackedCollator": "training.packing",
    "train": "training.finetune",
    "pretrain": "training.pretrain",
    "evaluate_checkpoint": "evaluation.report",
    "ChitChat": "serving.generation",
    "BotSettings": "serving.bot.settings",
    "build_dispatcher": "serving.bot.app",
}

__all__ = sorted(_EXPORTS)
__version__ = "0.1.0"

if TYPE_CHECKING:
    from .books.extract import ExtractArguments, extract_library
    from .books.library import read_books
    from .data.readers import read_dialogues
    from .config import PipelineConfig
    from .data.samples import prepare_dataset, preprocess_data_for_model
    from .errors import DataError
    from .evaluation.report import evaluate_checkpoint
    from .format import DialogueFormat, build_segments
    from .serving.bot.app import build_dispatcher
    from .serving.bot.settings import BotSettings
    from .serving.generation import ChitChat
    from .tokenizer import add_dialogue_special_tokens, train_tokenizer
    from .training.collator import DialogueCollator
    from .training.finetune import train
    from .training.packing import PackedCollator
    from .training.pretrain import pretrain


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
