"""Pretrain a causal LM on plain prose (books, text files or a Hub text dataset), or continue pretraining a Hub
model, with transformers.Trainer; every field of TrainingArguments is accepted too. The base keeps a tokenizer
with the dialogue special tokens, so `train --model_name_or_path DIR` fine-tunes it on the same vocabulary.
Example: `rugpt-chitchat pretrain --config configs/base-tiny.yaml --max_steps 100`."""

from __future__ import annotations

from ...training.pretrain import ARGUMENT_CLASSES as ARGUMENTS
from ...training.pretrain import PretrainDataArguments, PretrainingArguments
from ...training.model import ModelArguments

__all__ = ["ARGUMENTS", "run"]


def run(model_args: ModelArguments, data_args: PretrainDataArguments, args: PretrainingArguments) -> None:
    from accelerate import PartialState

    from ...serving.generation import ChitChat
    from ...training.pretrain import run_pretraining

    outcome = run_pretraining(model_args, data_args, args)
    if not PartialState().is_main_process:
        return
    print(f"\nHeld-out perplexity {outcome.perplexity:.1f} after {outcome.global_step} steps. Base saved to "
          f"{outcome.output_dir}; fine-tune it with `rugpt-chitchat train --model_name_or_path {outcome.output_dir}`.")
    print(f"  A sample from the base: {ChitChat.from_pretrained(outcome.output_dir).reply(['Привет! Как дела?'])}")
