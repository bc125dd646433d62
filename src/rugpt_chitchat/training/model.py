"""The model and tokenizer a Trainer job starts from, shared by fine-tuning and pretraining: a pretrained or new
causal LM sized for a tokenizer with the dialogue special tokens."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedModel, PreTrainedTokenizerBase

from ..errors import DataError, not_loadable
from ..format import CONFIG_ATTRIBUTE, DialogueFormat, SpecialIds, default_generation_config
from ..tokenizer import add_dialogue_special_tokens, load_pretrained_tokenizer
from .preflight import TRAIN_TOKENIZER, check_model_fits


@dataclass
class ModelArguments:
    model_name_or_path: str | None = field(
        default=None,
        metadata={"help": "Pretrained causal LM (Hub name or directory), e.g. ai-forever/rugpt3small_based_on_gpt2. "
                  "Empty: build a new model from model_type and config_overrides (train from scratch)."},
    )
    model_type: str = field(default="gpt2", metadata={"help": "Architecture of a model trained from scratch."})
    config_overrides: str | None = field(
        default=None,
        metadata={"help": "Config of a model trained from scratch, e.g. 'n_layer=4,n_embd=256,n_head=4,n_positions=256'."},
    )
    tokenizer_name: str | None = field(
        default=None,
        metadata={"help": "Tokenizer (Hub name or directory); defaults to model_name_or_path. 'train' (the default "
                  "without a model) trains a byte-level BPE on the dialogues and saves it with every checkpoint."},
    )
    tokenizer_vocab_size: int = field(default=8000, metadata={"help": "Vocabulary size of a tokenizer trained here."})
    attn_implementation: str | None = field(
        default=None, metadata={"help": "Attention kernels: 'sdpa' (the default), 'eager', 'flash_attention_2', ..."}
    )


def named_tokenizer(name: str, output_dir: str, reuse_trained: bool) -> PreTrainedTokenizerBase | None:
    """The tokenizer `name` with the dialogue special tokens, or None when it is 'train' (to be trained here) —
    unless `reuse_trained` and `output_dir` already holds the one trained (a resumed run, a non-main process)."""
    if name == TRAIN_TOKENIZER and reuse_trained and Path(output_dir, "tokenizer_config.json").exists():
        name = output_dir
    if name == TRAIN_TOKENIZER:
        return None
    tokenizer = load_pretrained_tokenizer(name)
    add_dialogue_special_tokens(tokenizer)
    return tokenizer


def load_model(
    model_args: ModelArguments, tokenizer: PreTrainedTokenizerBase, dialogue_format: DialogueFormat | None = None,
    max_length: int | None = None, **pretrained_kwargs,
) -> PreTrainedModel:
    """Pretrained or new model, embeddings grown to the tokenizer (new rows: mean of the old ones), special ids
    and sampling defaults set. With a `dialogue_format` (fine-tuning) the config carries it and a format the
    model cannot take is refused; a prose base (pretraining, `max_length` = its block) carries none.
    `pretrained_kwargs` go to a pretrained model's `from_pretrained` (QLoRA's quantization)."""
    special = SpecialIds.from_tokenizer(tokenizer)
    if model_args.model_name_or_path:
        try:
            model = AutoModelForCausalLM.from_pretrained(
                model_args.model_name_or_path, attn_implementation=model_args.attn_implementation, **pretrained_kwargs
            )
        except OSError as error:
            raise not_loadable(model_args.model_name_or_path, "model", error) from error
    else:
        config = AutoConfig.for_model(model_args.model_type)
        if model_args.config_overrides:
            config.update_from_string(model_args.config_overrides)
        config.vocab_size = len(tokenizer)
        model = AutoModelForCausalLM.from_config(config, attn_implementation=model_args.attn_implementation)
    if model.get_input_embeddings().num_embeddings < len(tokenizer):
        model.resize_token_embeddings(len(tokenizer), mean_resizing=True)
    model.config.bos_token_id, model.config.eos_token_id, model.config.pad_token_id = special.bos, special.eos, special.pad
    model.generation_config = default_generation_config(special)
    if dialogue_format is None:
        positions = getattr(model.config, "max_position_embeddings", None)
        if positions is not None and max_length is not None and positions < max_length:
            raise DataError("max_length", f"{max_length} exceeds the model's {positions} positions")
        if hasattr(model.config, CONFIG_ATTRIBUTE):  # a base pretrained by an older version carried a stand-in
            delattr(model.config, CONFIG_ATTRIBUTE)
        return model
    check_model_fits(model.config, type(model), dialogue_format)
    dialogue_format.store_in(model.config)  # so every save and Hub push carries the format
    return model
