"""Fine-tune (or train from scratch) a causal LM on dialogues with transformers.Trainer; every field of
TrainingArguments is accepted too. Example: `rugpt-chitchat train --config configs/tiny.yaml --max_steps 50`."""

from __future__ import annotations

from ...training.finetune import ARGUMENT_CLASSES as ARGUMENTS
from ...training.finetune import DataArguments, DialogueTrainingArguments, ModelArguments
from ...training.peft import LoraArguments

__all__ = ["ARGUMENTS", "run"]


def run(
    model_args: ModelArguments, data_args: DataArguments, training_args: DialogueTrainingArguments, lora_args: LoraArguments
) -> None:
    from accelerate import PartialState

    from ...evaluation.report import SAMPLE_HISTORIES
    from ...serving.generation import ChitChat
    from ...training.finetune import build_trainer, run_training

    outcome = run_training(build_trainer(model_args, data_args, training_args, lora_args))
    if not PartialState().is_main_process:
        return
    print(f"\nValidation reply perplexity: {outcome.perplexity_before:.1f} before, {outcome.perplexity_after:.1f} after "
          f"{outcome.global_step} steps. Model saved to {outcome.output_dir}")
    chitchat = ChitChat.from_pretrained(outcome.output_dir)
    for history in SAMPLE_HISTORIES:
        print(f"  {' / '.join(history)}  ->  {chitchat.reply(history)}")
