"""Reply perplexity of a checkpoint, and the history-use probe: the same replies scored with the true history,
none, and another dialogue's."""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
import torch
from datasets import Dataset

from ..errors import DataError
from ..scoring import perplexity, reply_nll_per_sample
from ..serving.generation import ChitChat
from ..training.collator import DialogueCollator

HISTORY_GAINS = ("history_gain_none", "history_gain_shuffled")
NO_HISTORY_NOTE = ("The checkpoint was trained with max_history 0: it never reads history, so the history gains are 1 "
                   "by construction (reported as such, not measured).")


@torch.inference_mode()
def reply_nll_sums(chat: ChitChat, rows: Sequence[dict], batch_size: int = 32) -> np.ndarray:
    """(samples, 2): each sample's summed reply NLL and reply token count, formatted by the training collator
    (reply tokens only, whatever the checkpoint trained on, so runs with different loss masks compare)."""
    collator = DialogueCollator(chat.special, chat.format).scoring_replies()
    model, sums = chat.model, []
    for start in range(0, len(rows), batch_size):
        batch = collator([rows[i] for i in range(start, min(start + batch_size, len(rows)))])
        batch = {key: value.to(model.device) for key, value in batch.items()}
        labels = batch.pop("labels")
        sums.append(reply_nll_per_sample(model(**batch).logits, labels).cpu().numpy())
    return np.concatenate(sums) if sums else np.zeros((0, 2))


def reply_perplexity(chat: ChitChat, samples: Sequence[dict], batch_size: int = 32) -> dict[str, float]:
    """Token-weighted `loss` and `perplexity` of the reference replies (see `reply_nll_sums`)."""
    sums = reply_nll_sums(chat, samples, batch_size)
    return perplexity(sums[:, 0], sums[:, 1])


def dialogue_ids(samples: Dataset) -> list[int]:
    """Which dialogue each sample comes from. `prepare_dataset` writes a dialogue's samples in a row, each
    sample's input being the previous one's reply (and its last history utterance the previous input)."""
    ids: list[int] = []
    current, previous = -1, None
    for row in samples.select_columns(["history", "input", "reply"]):
        same = previous is not None and row["input"] == previous["reply"] and (
            not row["history"] or row["history"][-1] == previous["input"]
        )
        current += not same
        ids.append(current)
        previous = row
    return ids


def donor_indices(groups: list[int], seed: int) -> list[int]:
    """For each sample, the index of a sample from another dialogue, in a fixed random pairing."""
    order = list(range(len(groups)))
    random.Random(seed).shuffle(order)
    donors = [0] * len(groups)
    for position, index in enumerate(order):
        candidates = (order[(position + step) % len(order)] for step in range(1, len(order)))
        donor = next((other for other in candidates if groups[other] != groups[index]), None)
        if donor is None:
            raise DataError("history probe", "every sample with history comes from one dialogue: no other history")
        donors[index] = donor
    return donors


def bootstrap_ratio_interval(
    nll_a: np.ndarray, nll_b: np.ndarray, tokens: np.ndarray, seed: int, num_bootstrap: int = 1000, level: float = 0.95
) -> tuple[float, float]:
    """Interval of the perplexity ratio A/B = exp((sum nll_a - sum nll_b) / sum tokens) over samples drawn with
    replacement: the spread of the ratio had the validation set been another draw of the same dialogues."""
    draws = np.random.default_rng(seed).integers(0, len(tokens), size=(num_bootstrap, len(tokens)))
    log_ratios = (nll_a - nll_b)[draws].sum(axis=1) / tokens[draws].sum(axis=1)
    low, high = np.exp(np.quantile(log_ratios, [(1 - level) / 2, (1 + level) / 2]))
    return float(low), float(high)


def history_probe(
    chat: ChitChat, validation: Dataset, num_samples: int | None = 2000, seed: int = 42, batch_size: int = 32
) -> tuple[dict[str, float], list[str]]:
    """Does the model read the history? Reply perplexity on validation samples that have history, given the true
    history, none, and another dialogue's (fixed seed); `history_gain_*` = that perplexity / the true one, with
    bootstrap 95 % intervals. Returns the metrics and notes for the report."""
    chosen = [index for index, history in enumerate(validation["history"]) if history]
    if not chosen and chat.max_history == 0:  # split made for this checkpoint: no sample keeps history
        chosen = list(range(len(validation)))
    if not chosen:
        return {}, ["History probe skipped: no validation sample has history (dialogues of 2 utterances only?)."]
    if num_samples is not None and num_samples < len(chosen):
        chosen = sorted(random.Random(seed).sample(chosen, num_samples))
    rows = list(validation.select(chosen))
    true = reply_nll_sums(chat, rows, batch_size)
    tokens = true[:, 1]
    metrics = {"history_probe_samples": float(len(rows))}
    perplexities = {"true_history": perplexity(true[:, 0], tokens)["perplexity"]}
    if chat.max_history == 0:
        perplexities |= {"no_history": perplexities["true_history"], "shuffled_history": perplexities["true_history"]}
        metrics |= {f"{gain}{end}": 1.0 for gain in HISTORY_GAINS for end in ("", "_ci_low", "_ci_high")}
        return {f"reply_perplexity_{name}": value for name, value in perplexities.items()} | metrics, [NO_HISTORY_NOTE]
    dialogue_of = dialogue_ids(validation)
    groups = [dialogue_of[index] for index in chosen]
    if len(set(groups)) < 2:
        return {}, ["History probe skipped: the samples with history all come from one dialogue, so there is no "
                    "other dialogue's history to swap in."]
    donors = donor_indices(groups, seed)
    swapped = {
        "no_history": [row | {"history": []} for row in rows],
        "shuffled_history": [row | {"history": rows[donor]["history"]} for row, donor in zip(rows, donors)],
    }
    for (name, variant), gain in zip(swapped.items(), HISTORY_GAINS):
        nll = reply_nll_sums(chat, variant, batch_size)[:, 0]
        perplexities[name] = perplexity(nll, tokens)["perplexity"]
        metrics[gain] = perplexities[name] / perplexities["true_history"]
        metrics[f"{gain}_ci_low"], metrics[f"{gain}_ci_high"] = bootstrap_ratio_interval(nll, true[:, 0], tokens, seed)
    return {f"reply_perplexity_{name}": value for name, value in perplexities.items()} | metrics, []
