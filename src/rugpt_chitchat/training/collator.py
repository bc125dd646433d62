"""Samples -> padded training batches, through the one format function `build_segments`.

Batches are padded on the right to their own longest sample (never to a global maximum); with the
precomputed `length` column the Trainer's length-grouped sampler puts samples of similar length together,
so nearly every token in a batch is real.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
from datasets import Dataset
from transformers import PreTrainedTokenizerBase

from ..format import IGNORE_INDEX, DialogueFormat, SpecialIds, build_segments

LENGTH_COLUMN = "length"
LOSS_WEIGHTS = "loss_weights"


@dataclass
class DialogueCollator:
    """`{"history", "input", "reply"}` samples -> `input_ids`, `token_type_ids`, `attention_mask`, `labels` tensors.

    `token_type_ids` are left out when the format does not use them, and `attention_mask` too (the seed's
    baseline: with right padding and causal attention no real token sees a pad, so the loss is the same).
    A context loss weight strictly between 0 and 1 labels every token and adds `loss_weights` (1 on the reply, the
    weight before it), which `DialogueTrainer.compute_loss` reads; 0 and 1 are plain labels, as before.
    """

    special: SpecialIds
    dialogue_format: DialogueFormat = field(default_factory=DialogueFormat)
    pad_to_multiple_of: int | None = None

    @classmethod
    def from_tokenizer(
        cls, tokenizer: PreTrainedTokenizerBase, dialogue_format: DialogueFormat, pad_to_multiple_of: int | None = None
    ) -> DialogueCollator:
        """Refuses (ValueError) a tokenizer without the dialogue special tokens."""
        return cls(SpecialIds.from_tokenizer(tokenizer), dialogue_format, pad_to_multiple_of)

    def scoring_replies(self) -> DialogueCollator:
        """This collator with labels on the reply alone: how every run is scored, whatever its training loss
        covers, so runs with different loss masks compare."""
        reply_only = replace(self.dialogue_format, loss_on_reply_only=True, context_loss_weight=None)
        return replace(self, dialogue_format=reply_only)

    def segments(self, sample: dict) -> dict[str, list]:
        fmt = self.dialogue_format
        weight = fmt.context_weight()
        segments = build_segments(
            sample["history"],
            sample["input"],
            sample["reply"],
            self.special,
            max_length=fmt.max_length,
            max_history=fmt.max_history,
            loss_on_reply_only=weight < 1,
        )
        return with_loss_weights(segments, weight) if 0 < weight < 1 else segments

    def padded_length(self, longest: int) -> int:
        multiple = self.pad_to_multiple_of
        return longest if not multiple else -(-longest // multiple) * multiple

    def __call__(self, samples: list[dict]) -> dict[str, torch.Tensor]:
        rows = [self.segments(sample) for sample in samples]
        width = self.padded_length(max(len(row["input_ids"]) for row in rows))
        pad = self.special.pad

        def padded(key: str, value: int) -> torch.Tensor:
            return torch.tensor([row[key] + [value] * (width - len(row[key])) for row in rows], dtype=torch.long)

        batch = {"input_ids": padded("input_ids", pad), "labels": padded("labels", IGNORE_INDEX)}
        if self.dialogue_format.use_attention_mask:
            batch["attention_mask"] = torch.tensor(
                [[1] * len(row["input_ids"]) + [0] * (width - len(row["input_ids"])) for row in rows], dtype=torch.long
            )
        if self.dialogue_format.use_token_type_ids:
            batch["token_type_ids"] = padded("token_type_ids", pad)
        if LOSS_WEIGHTS in rows[0]:
            batch[LOSS_WEIGHTS] = torch.tensor([row[LOSS_WEIGHTS] + [0.0] * (width - len(row[LOSS_WEIGHTS])) for row in rows])
        return batch


def with_loss_weights(segments: dict[str, list], context_weight: float) -> dict[str, list]:
    """Reply-only segments -> labels on every token but bos, and `loss_weights`: 1 on the reply's labels,
    `context_weight` on the tokens before them, 0 on bos (never labelled)."""
    reply_labels = segments["labels"]
    weights = [0.0] + [1.0 if label != IGNORE_INDEX else context_weight for label in reply_labels[1:]]
    return segments | {"labels": [IGNORE_INDEX] + segments["input_ids"][1:], LOSS_WEIGHTS: weights}


def lengths_batch(batch: dict[str, list], collator: DialogueCollator) -> dict[str, list[int]]:
    samples = [dict(zip(batch, values)) for values in zip(*batch.values())]
    return {LENGTH_COLUMN: [len(collator.segments(sample)["input_ids"]) for sample in samples]}


def with_length_column(dataset: Dataset, collator: DialogueCollator, num_proc: int | None = None) -> Dataset:
    """Adds `length` (tokens after formatting and truncation), which `train_sampling_strategy="group_by_length"`
    reads instead of collating the whole dataset once more at start-up."""
    if LENGTH_COLUMN in dataset.column_names:
        dataset = dataset.remove_columns(LENGTH_COLUMN)
    return dataset.map(
        lengths_batch,
        batched=True,
        num_proc=num_proc,
        fn_kwargs={"collator": collator},
        desc="Measuring sample lengths",
    )
