"""Padding-free batches: samples packed into fixed-length rows that keep speaker types, and batches cut by a
token budget.

A packed row concatenates whole samples, each with `position_ids` restarting at 0. That is how transformers
tells them apart: given no `attention_mask` and no cache, SDPA and eager attention get a block-diagonal causal
mask built from the position ids (`masking_utils.find_packed_sequence_indices`), flash-attention its varlen
kernel (on rows laid end to end), so no token attends across samples. Unlike `DataCollatorWithFlattening`,
`token_type_ids` and the reply-only labels are kept per sample. Rows all have one length, so a compiled model
sees one shape; they are packed once, by `datasets.map`, so the training collator only stacks them.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from datasets import Dataset
from torch.utils.data import RandomSampler, Sampler

from .collator import LENGTH_COLUMN, LOSS_WEIGHTS, DialogueCollator
from ..format import IGNORE_INDEX

POSITION_COLUMN = "position_ids"


def best_fit_rows(lengths: list[int], row_length: int) -> list[list[int]]:
    """Indices of `lengths` grouped into rows of at most `row_length` tokens, best-fit decreasing: longest first,
    each into the fullest row it still fits (few rows, little padding)."""
    rows: list[list[int]] = []
    free: list[tuple[int, int]] = []  # (room left, row), sorted
    for index in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        if lengths[index] > row_length:
            raise ValueError(f"a sample of {lengths[index]} tokens does not fit a row of {row_length}")
        slot = bisect.bisect_left(free, (lengths[index], -1))
        if slot == len(free):
            rows.append([index])
            room, row = row_length, len(rows) - 1
        else:
            room, row = free.pop(slot)
            rows[row].append(index)
        room -= lengths[index]
        if room > 0:
            bisect.insort(free, (room, row))
    return rows


def packed_row(segments: list[dict[str, list[int]]], row_length: int, pad: int) -> dict[str, list[int]]:
    """One row: the samples one after another, positions restarting at 0; the tail padded, each pad at position
    0 so it forms a sequence of its own. A sample's first label is always -100 (`build_segments` never labels
    bos), so the previous sample's last token learns nothing across the seam."""
    weighted = bool(segments) and LOSS_WEIGHTS in segments[0]
    row: dict[str, list] = {"input_ids": [], "token_type_ids": [], "labels": [], POSITION_COLUMN: []}
    row |= {LOSS_WEIGHTS: []} if weighted else {}
    for sample in segments:
        for key in row.keys() - {POSITION_COLUMN}:
            row[key] += sample[key]
        row[POSITION_COLUMN] += range(len(sample["input_ids"]))
    tail = row_length - len(row["input_ids"])
    padding = {"input_ids": pad, "token_type_ids": pad, "labels": IGNORE_INDEX, POSITION_COLUMN: 0, LOSS_WEIGHTS: 0.0}
    for key in row:
        row[key] += [padding[key]] * tail
    return row


def pack_batch(batch: dict[str, list], collator: DialogueCollator, row_length: int) -> dict[str, list]:
    samples = [dict(zip(batch, values)) for values in zip(*batch.values())]
    segments = [collator.segments(sample) for sample in samples]
    rows = [
        packed_row([segments[i] for i in row], row_length, collator.special.pad)
        for row in best_fit_rows([len(s["input_ids"]) for s in segments], row_length)
    ]
    packed = {key: [row[key] for row in rows] for key in rows[0]} if rows else {}
    packed[LENGTH_COLUMN] = [row_length] * len(rows)
    return packed


def pack_samples(
    samples: Dataset, collator: DialogueCollator, row_length: int, seed: int, num_proc: int | None = None
) -> Dataset:
    """`{"history", "input", "reply"}` samples -> rows of exactly `row_length` tokens (`input_ids`,
    `token_type_ids`, `labels`, `position_ids`, `length`, and `loss_weights` where the collator gives them). Samples are shuffled first, so a row mixes dialogues,
    and packed 2,000 at a time (rows are near full: a few hundred short samples fit every gap)."""
    return samples.shuffle(seed=seed).map(
        pack_batch,
        batched=True,
        batch_size=2000,
        num_proc=num_proc,
        remove_columns=samples.column_names,
        fn_kwargs={"collator": collator, "row_length": row_length},
        desc=f"Packing samples into rows of {row_length} tokens",
    )


@dataclass
class PackedCollator:
    """Stacks packed rows into tensors; samples that are not packed (the validation set) go through `samples`.

    The batch carries `use_cache=False`: a model building a key/value cache skips the packed-sequence mask.
    `flatten` lays the rows end to end in one: flash-attention looks for packed samples only in a batch of one
    row (and then runs its varlen kernel); for SDPA and eager that would cost a mask over the whole batch.
    """

    samples: DialogueCollator
    flatten: bool = False

    def padded_length(self, longest: int) -> int:
        return self.samples.padded_length(longest)

    def __call__(self, rows: list[dict]) -> dict:
        if POSITION_COLUMN not in rows[0]:
            return self.samples(rows)
        keys = ["input_ids", "labels", POSITION_COLUMN]
        if self.samples.dialogue_format.use_token_type_ids:
            keys.append("token_type_ids")
        shape = (1, -1) if self.flatten else (len(rows), -1)
        batch: dict = {key: torch.tensor([row[key] for row in rows], dtype=torch.long).view(shape) for key in keys}
        if LOSS_WEIGHTS in rows[0]:
            batch[LOSS_WEIGHTS] = torch.tensor([row[LOSS_WEIGHTS] for row in rows]).view(shape)
        batch["use_cache"] = False
        return batch


def token_budget_batches(lengths: list[int], max_tokens: int, seed: int) -> list[list[int]]:
    """Indices cut into batches whose padded size (samples x longest) stays within `max_tokens`: samples in
    length order (ties in a seeded random order), so each batch holds samples of nearly one length."""
    order = list(range(len(lengths)))
    random.Random(seed).shuffle(order)
    order.sort(key=lambda i: lengths[i])
    batches: list[list[int]] = []
    for index in order:
        if lengths[index] > max_tokens:
            raise ValueError(f"a sample of {lengths[index]} tokens exceeds max_tokens_per_batch {max_tokens}")
        if batches and (len(batches[-1]) + 1) * lengths[index] <= max_tokens:
            batches[-1].append(index)
        else:
            batches.append([index])
    return batches


class TokenBudgetBatchSampler(Sampler[list[int]]):
    """Batches of at most `max_tokens` padded tokens, formed once (as fairseq's `batch_by_size`) and drawn in a
    new random order every epoch; `drop_last` drops the one batch the data ran out on, if it has room left
    (with packed rows, all others then have one shape).

    The order comes from `self.sampler`, a `RandomSampler` over the batches: accelerate swaps it for its seeded
    sampler, so every process draws the same order and takes its own share of the batches.
    """

    def __init__(self, lengths: list[int], max_tokens: int, seed: int, drop_last: bool = False):
        self.batches = token_budget_batches(lengths, max_tokens, seed)
        last = self.batches[-1] if self.batches else []
        if drop_last and last and (len(last) + 1) * max(lengths[i] for i in last) <= max_tokens:
            self.batches.pop()
        self.sampler = RandomSampler(range(len(self.batches)), generator=torch.Generator().manual_seed(seed))
        self.batch_size = None  # accelerate: batches of varying size
        self.drop_last = False  # accelerate: every batch counts (it loops back to even out the processes)

    def __iter__(self) -> Iterator[list[int]]:
        return (self.batches[i] for i in self.sampler)

    def __len__(self) -> int:
        return len(self.batches)
