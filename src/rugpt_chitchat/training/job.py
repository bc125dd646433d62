"""What fine-tuning and pretraining share around the Trainer: the TrainingArguments defaults of both jobs (early
stopping on held-out perplexity, the best checkpoint kept, the attention-kernel switch) and the run itself —
resume, train, evaluate, save, card or Hub push."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field

import torch
from transformers import EarlyStoppingCallback, Trainer, TrainerCallback, TrainingArguments

from ..errors import DataError
from .checkpoints import checkpoint_to_resume

logger = logging.getLogger(__name__)


@dataclass
class JobArguments(TrainingArguments):
    """TrainingArguments with evaluation and early stopping on held-out perplexity, the best checkpoint kept."""

    early_stopping_patience: int | None = field(
        default=3, metadata={"help": "Evaluations without a better perplexity before stopping; 0 or empty: never."}
    )
    eval_strategy: str = field(default="steps", metadata={"help": "See TrainingArguments."})
    metric_for_best_model: str | None = field(default="perplexity", metadata={"help": "See TrainingArguments."})
    greater_is_better: bool | None = field(default=False, metadata={"help": "See TrainingArguments."})
    load_best_model_at_end: bool = field(default=True, metadata={"help": "See TrainingArguments."})
    save_total_limit: int | None = field(default=2, metadata={"help": "See TrainingArguments."})
    cudnn_attention: bool = field(
        default=True,
        metadata={"help": "Let PyTorch's scaled-dot-product attention use cuDNN's kernel on CUDA. false: flash and "
                  "memory-efficient kernels only (cuDNN's was the suspect of NaN gradients in GPU history runs)."},
    )


def early_stopping(args: JobArguments) -> list[TrainerCallback]:
    patience = args.early_stopping_patience
    return [EarlyStoppingCallback(patience)] if patience else []


def run_trainer_job(trainer: Trainer, **card) -> dict[str, float]:
    """Train (resumed when asked: a checkpoint path, or true/last for the latest), evaluate the model kept, save
    it with the trainer state and metrics, then push it to the Hub or write its model card (`card`: keyword
    arguments of `create_model_card`). Returns the final evaluation's metrics."""
    args = trainer.args
    if not getattr(args, "cudnn_attention", True):
        torch.backends.cuda.enable_cudnn_sdp(False)
    trainer.train(resume_from_checkpoint=checkpoint_to_resume(args.resume_from_checkpoint, args.output_dir))
    metrics = trainer.evaluate()
    trainer.save_model()
    trainer.save_state()
    trainer.save_metrics("eval", metrics)
    if args.push_to_hub:
        trainer.push_to_hub()
    else:
        trainer.create_model_card(**card)
    logger.info("Held-out perplexity %.2f after %d steps", metrics["eval_perplexity"], trainer.state.global_step)
    return metrics


def with_overrides(parsed: tuple, overrides: dict) -> tuple:
    """`parsed` argument dataclasses with `overrides` (field name -> value) set on each one that has the field."""
    known = {f.name for arguments in parsed for f in dataclasses.fields(arguments) if f.init}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise DataError("overrides", f"unknown fields {', '.join(unknown)}")
    return tuple(
        dataclasses.replace(arguments, **{key: value for key, value in overrides.items() if hasattr(arguments, key)})
        for arguments in parsed
    )
