"""rugpt-chitchat: fine-tune a Russian GPT into a history-aware chit-chat model, evaluate it, serve it."""

from .errors import DataError
from .generation import ChitChat
from .readers import read_dialogues
from .samples import PipelineConfig, prepare_dataset, preprocess_data_for_model
from .tokenizer import add_dialogue_special_tokens, train_tokenizer

__all__ = [
    "ChitChat",
    "DataError",
    "PipelineConfig",
    "add_dialogue_special_tokens",
    "prepare_dataset",
    "preprocess_data_for_model",
    "read_dialogues",
    "train_tokenizer",
]
__version__ = "0.1.0"
