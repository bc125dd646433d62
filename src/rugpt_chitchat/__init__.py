"""rugpt-chitchat: fine-tune a Russian GPT into a history-aware chit-chat model, evaluate it, serve it.

The names below are imported on first use (module `__getattr__`, as transformers does), so importing the
package, and `rugpt-chitchat --help`, load neither torch, transformers nor datasets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .lazy import lazy_exports

_EXPORTS = {
    "ChitChat": "serving.generation",
    "DataError": "errors",
    "PipelineConfig": "data.samples",
    "add_dialogue_special_tokens": "tokenizer",
    "prepare_dataset": "data.samples",
    "preprocess_data_for_model": "data.samples",
    "read_dialogues": "data.readers",
    "train_tokenizer": "tokenizer",
}

__all__ = sorted(_EXPORTS)
__version__ = "0.1.0"

if TYPE_CHECKING:
    from .errors import DataError
    from .serving.generation import ChitChat
    from .data.readers import read_dialogues
    from .data.samples import PipelineConfig, prepare_dataset, preprocess_data_for_model
    from .tokenizer import add_dialogue_special_tokens, train_tokenizer


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
