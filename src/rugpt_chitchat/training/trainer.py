"""The Trainer pieces only we know: batches by token budget, a stop on divergence, and a model card
describing data, format and perplexity (scored by `rugpt_chitchat.scoring`)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from datasets import Dataset
from torch.utils.data import DataLoader, Sampler
from transformers import (
    Trainer,
    TrainerCallback,
    TrainerControl,
    TrainerState,
    TrainingArguments,
    enable_full_determinism,
    set_seed,
)
from transformers.trainer_pt_utils import LengthGroupedSampler
from transformers.trainer_utils import seed_worker

from .checkpoints import AtomicCheckpoints, EpochSeededLengthGroupedSampler
from .collator import LENGTH_COLUMN, LOSS_WEIGHTS
from ..errors import TrainingDiverged
from ..format import IGNORE_INDEX, DialogueFormat
from .packing import TokenBudgetBatchSampler
from .peft import is_adapter_model, save_adapter_checkpoint


def weighted_token_loss(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """sum(weight x NLL) / sum(weight) over the labelled tokens of (batch, length) `labels` and `weights`, each
    token predicted from the one before (as the model's own loss shifts them)."""
    nll = F.cross_entropy(logits[:, :-1].float().transpose(1, 2), labels[:, 1:], ignore_index=IGNORE_INDEX, reduction="none")
    weights = weights[:, 1:].to(nll.dtype) * labels[:, 1:].ne(IGNORE_INDEX)
    return (nll * weights).sum() / weights.sum().clamp(min=1e-8)


class StopOnNonFinite(TrainerCallback):
    """Stops the run at the first logged NaN/inf gradient norm or evaluation loss.

    Without it a diverged run goes on to its last step (the Trainer's `logging_nan_inf_filter` even hides
    NaN losses), saves NaN weights, and the first `generate` fails far away, on a GPU as an opaque
    device-side assert. Under fp16 an inf gradient norm is normal (the grad scaler skips that step), so only
    the evaluation loss is watched there.
    """

    def on_log(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, logs=None, **kwargs):
        watched = ["eval_loss"] if args.fp16 else ["grad_norm", "eval_loss"]
        bad = {key: logs[key] for key in watched if key in (logs or {}) and not math.isfinite(logs[key])}
        if bad:
            found = ", ".join(f"{key}={value}" for key, value in bad.items())
            raise TrainingDiverged(
                f"{found} at step {state.global_step}: the weights are no longer finite. A checkpoint in "
                f"{args.output_dir} saved before the divergence may be usable (ChitChat refuses one with NaN "
                "weights). Usual causes: a learning rate too high, fp16 overflow (try bf16), or an attention "
                "kernel returning NaN (try --use_attention_mask false, or --attn_implementation eager)."
            )


def sample_lengths(dataset: Dataset) -> list[int]:
    """The `length` column as a list, read in one go.

    `dataset["length"]` is a lazy `datasets.Column`: each `[i]` on it re-selects the column and builds a new
    table, ~0.5 ms on 200k samples, so the Trainer's length-grouped sampler, sorting by `lengths[i]`, spent
    minutes at the start of every epoch and evaluation (GPU runs measured 60x slower per token than pretraining).
    """
    return dataset[LENGTH_COLUMN][:]


def seed_everything(args: TrainingArguments) -> None:
    if args.full_determinism:
        enable_full_determinism(args.seed)
    else:
        set_seed(args.seed)


def tied_parameter_names(model: torch.nn.Module) -> set[str]:
    """Names of parameters that share their tensor with another name (GPT-2's LM head and word embeddings)."""
    names_by_tensor: dict[int, list[str]] = {}
    for name, parameter in model.named_parameters(remove_duplicate=False):
        names_by_tensor.setdefault(id(parameter), []).append(name)
    return {name for names in names_by_tensor.values() if len(names) > 1 for name in names}


class DialogueTrainer(AtomicCheckpoints, Trainer):
    """A Trainer whose model card records data and format (the model config carries the format into every save),
    whose checkpoints are written atomically and whose data order a resumed run replays exactly."""

    def __init__(
        self, *args, dialogue_format: DialogueFormat, data_sources: list[str], base_model: str | None,
        eval_collator: Callable[[list[dict]], dict], **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.add_callback(StopOnNonFinite)
        self.eval_collator = eval_collator
        self.dialogue_format = dialogue_format
        self.data_sources = data_sources
        self.base_model = base_model

    def train(self, *args, **kwargs):
        """Seeded again first: data order and dropout then depend on the seed alone, not on whatever used the
        random generators since the trainer was built (a checkpoint's saved RNG state still wins on resume)."""
        seed_everything(self.args)
        return super().train(*args, **kwargs)

    @property
    def initial_perplexity(self) -> float | None:
        """Validation perplexity before the first step (`eval_on_start`), from the log history, which resumed
        runs restore from their checkpoint."""
        at_start = (log for log in self.state.log_history if log["step"] == 0 and "eval_perplexity" in log)
        return next((log["eval_perplexity"] for log in at_start), None)

    def get_eval_dataloader(self, eval_dataset: str | Dataset | None = None) -> DataLoader:
        """Batches of `eval_collator` (transformers has one collator for both): validation scores the reply alone
        whatever the training loss covers, so `eval_perplexity` (and early stopping) means the same for every loss
        mask."""
        training_collator, self.data_collator = self.data_collator, self.eval_collator
        try:
            return super().get_eval_dataloader(eval_dataset)
        finally:
            self.data_collator = training_collator

    def compute_loss(self, model, inputs: dict, return_outputs: bool = False, num_items_in_batch=None):
        """With `loss_weights` (a context loss weight between 0 and 1): sum(weight x NLL) / sum(weight) over the
        batch's labelled tokens, so weight 1 would give the every-token loss and 0 the reply-only loss."""
        weights = inputs.pop(LOSS_WEIGHTS, None)
        if weights is None:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        loss = weighted_token_loss(outputs.logits, labels, weights)
        scaled = self.loss_is_scaled_for_ga
        if scaled if scaled is not None else (self.model_accepts_loss_kwargs and num_items_in_batch is not None):
            # the Trainer takes such a loss as normalised over the accumulated batch: this one is per batch
            loss = loss / self.current_gradient_accumulation_steps
        return (loss, outputs) if return_outputs else loss

    # Private overrides, kept for one upstream cause: transformers' `_get_train_sampler`/`_get_eval_sampler` hand
    # `dataset["length"]` (a lazy datasets.Column since datasets 4) to LengthGroupedSampler, which indexes it per
    # sample; we hand it the same lengths as a list (see `sample_lengths`).
    def _get_train_sampler(self, train_dataset: Dataset | None = None) -> Sampler | None:
        """The Trainer's length-grouped sampler, given the lengths as a list (see `sample_lengths`), each epoch's
        order drawn from the data seed and the epoch alone (see `EpochSeededLengthGroupedSampler`)."""
        dataset = self.train_dataset if train_dataset is None else train_dataset
        if not self._groups_by_length_column(dataset):
            return super()._get_train_sampler(train_dataset)
        batch_size = self.args.train_batch_size * self.args.gradient_accumulation_steps
        return EpochSeededLengthGroupedSampler(batch_size, sample_lengths(dataset), self._data_seed())

    def _get_eval_sampler(self, eval_dataset: Dataset) -> Sampler | None:
        """The Trainer's length-grouped evaluation sampler, given the lengths as a list (see `sample_lengths`)."""
        if not self._groups_by_length_column(eval_dataset):
            return super()._get_eval_sampler(eval_dataset)
        seed = self._data_seed()
        generator = torch.Generator().manual_seed(seed)
        return LengthGroupedSampler(self.args.eval_batch_size, lengths=sample_lengths(eval_dataset), generator=generator)

    def _data_seed(self) -> int:
        return self.args.data_seed if self.args.data_seed is not None else self.args.seed

    def _groups_by_length_column(self, dataset) -> bool:
        return (
            self.args.train_sampling_strategy == "group_by_length"
            and isinstance(dataset, Dataset)
            and LENGTH_COLUMN in dataset.column_names
        )

    def get_train_dataloader(self) -> DataLoader:
        """With `max_tokens_per_batch`, batches of a token budget instead of `per_device_train_batch_size` samples,
        in a DataLoader set as the Trainer's own `_get_dataloader` sets it (worker seeding, multiprocessing context),
        which takes no batch sampler of ours."""
        budget = getattr(self.args, "max_tokens_per_batch", None)
        if not budget:
            return super().get_train_dataloader()
        widths = [self.data_collator.padded_length(length) for length in sample_lengths(self.train_dataset)]
        seed = self._data_seed()
        loader = DataLoader(
            self.train_dataset,
            batch_sampler=TokenBudgetBatchSampler(widths, budget, seed, self.args.dataloader_drop_last),
            collate_fn=self.data_collator,
            num_workers=self.args.dataloader_num_workers,
            pin_memory=self.args.dataloader_pin_memory,
            persistent_workers=self.args.dataloader_persistent_workers,
            multiprocessing_context=self.args.dataloader_multiprocessing_context,
            prefetch_factor=self.args.dataloader_prefetch_factor,
            in_order=self.args.dataloader_in_order,
            worker_init_fn=partial(seed_worker, num_workers=self.args.dataloader_num_workers, rank=self.args.process_index),
        )
        return self.accelerator.prepare(loader)

    def _save(self, output_dir: str | None = None, state_dict=None) -> None:
        """A LoRA model saves its adapter and settings, not the base's weights (see `save_adapter_checkpoint`)."""
        if not is_adapter_model(self.model):
            super()._save(output_dir, state_dict)
        elif self.args.should_save:
            save_adapter_checkpoint(self.model, self.processing_class, output_dir or self.args.output_dir)

    def _issue_warnings_after_load(self, load_result) -> None:
        # A tied LM head is not saved (it is the embedding's own tensor), so loading the embedding restored it:
        # not worth the "missing keys ['lm_head.weight']" warning of `load_best_model_at_end`.
        tied = tied_parameter_names(self.model)
        load_result.missing_keys[:] = [key for key in load_result.missing_keys if key not in tied]
        super()._issue_warnings_after_load(load_result)

    def create_model_card(self, **kwargs) -> None:
        kwargs.setdefault("language", "ru")
        kwargs.setdefault("tags", ["conversational", "rugpt-chitchat"])
        kwargs.setdefault("dataset", [Path(source).name for source in self.data_sources])
        if self.base_model:
            kwargs.setdefault("finetuned_from", self.base_model)
        super().create_model_card(**kwargs)
        if self.is_world_process_zero():
            with open(Path(self.args.output_dir, "README.md"), "a", encoding="utf-8") as card:
                card.write(self._dialogue_section())

    def _provenance(self) -> str:
        """The model and tokenizer really used, as the run resolved them (not as the config spelled them)."""
        source = self.processing_class.name_or_path
        trained_here = not source or Path(source).resolve() == Path(self.args.output_dir).resolve()
        tokenizer = "a byte-level BPE trained here on the data" if trained_here else f"`{source}` (dialogue special tokens added)"
        model = f"fine-tuned from `{self.base_model}`" if self.base_model else f"a new {self.model.config.model_type} trained from scratch"
        return f"Model: {model}; tokenizer: {tokenizer}."

    def _dialogue_section(self) -> str:
        evaluations = [log for log in self.state.log_history if "eval_perplexity" in log]
        after = self.state.best_metric if self.state.best_metric is not None else (evaluations[-1]["eval_perplexity"] if evaluations else None)
        rows = [("validation reply perplexity before training", self.initial_perplexity), ("best validation reply perplexity", after)]
        table = "\n".join(f"| {name} | {value:.2f} |" for name, value in rows if value is not None)
        return (
            "\n## Chit-chat training (rugpt-chitchat)\n\n"
            f"{self._provenance()}\n\n"
            f"Data: {', '.join(self.data_sources)}; {len(self.train_dataset):,} training and "
            f"{len(self.eval_dataset):,} validation samples, split by dialogue.\n\n"
            "Format (`dialogue_format` in config.json, read by `rugpt_chitchat.serving.generation.ChitChat`; the tokenizer's "
            "chat template renders it): "
            "`<s> <speaker…> history… <speaker1> input <speaker2> reply </s>`, token_type_ids = speaker token ids.\n\n"
            f"```json\n{json.dumps(asdict(self.dialogue_format), indent=2)}\n```\n\n"
            f"| metric | value |\n| --- | ---: |\n{table}\n"
        )
