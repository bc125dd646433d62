"""Checks of the model and tokenizer choice that need only the model's config: run before any tokenizer is
trained or data prepared, so a run that cannot work fails at once and leaves nothing in its output folder."""

from __future__ import annotations

import inspect

from transformers import AutoConfig, PretrainedConfig
from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING

from ..errors import DataError, not_loadable
from ..format import DialogueFormat

TRAIN_TOKENIZER = "train"


def model_config(model_name_or_path: str | None, model_type: str, config_overrides: str | None) -> PretrainedConfig:
    """The config of the pretrained model, or of the new one `model_type` and `config_overrides` describe."""
    if model_name_or_path:
        try:
            return AutoConfig.from_pretrained(model_name_or_path)
        except OSError as error:
            raise not_loadable(model_name_or_path, "model", error) from error
    config = AutoConfig.for_model(model_type)
    if config_overrides:
        config.update_from_string(config_overrides)
    return config


def check_tokenizer_choice(tokenizer_name: str | None, model_name_or_path: str | None) -> None:
    """A pretrained model's embeddings belong to its own tokenizer: a new tokenizer would give its rows to other
    text (e.g. `tokenizer_name: train` from configs/tiny.yaml with --model_name_or_path)."""
    if tokenizer_name == TRAIN_TOKENIZER and model_name_or_path:
        raise DataError(
            "tokenizer_name",
            f"'train' (a new tokenizer) with the pretrained model {model_name_or_path}, whose embeddings belong to its "
            f"own tokenizer: pass --tokenizer_name {model_name_or_path} (a config such as configs/tiny.yaml asks to train "
            "one), or leave model_name_or_path empty to train a new model from scratch",
        )


def check_model_fits(config: PretrainedConfig, model_class: type, dialogue_format: DialogueFormat) -> None:
    """The format must fit the model: no longer than its positions, speaker ids only where it takes them."""
    positions = getattr(config, "max_position_embeddings", None)
    if positions is not None and positions < dialogue_format.max_length:
        raise DataError("max_length", f"{dialogue_format.max_length} exceeds the model's {positions} positions")
    if dialogue_format.use_token_type_ids and "token_type_ids" not in inspect.signature(model_class.forward).parameters:
        problem = f"{model_class.__name__} takes no token_type_ids; set use_token_type_ids: false"
        raise DataError("use_token_type_ids", problem)


def causal_lm_class(config: PretrainedConfig, name: str) -> type:
    try:
        return MODEL_FOR_CAUSAL_LM_MAPPING[type(config)]
    except KeyError:
        problem = f"a {config.model_type} model is no causal language model transformers can train here"
        raise DataError(name, problem) from None
