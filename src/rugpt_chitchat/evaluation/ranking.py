"""Next-utterance ranking: can the model pick a sample's true reply out of 20 given its context, and how much
better with the history than without?

Each validation sample with history gets a fixed, seeded draw of 19 distractors: replies of samples from other
validation dialogues, none equal to the true reply or to each other. Every candidate is scored given the
context (the true history and the input), given the input alone (no history) and given nothing, by the model's
reply log-probability under the training format (`reply_nll_sums`, so a candidate is scored exactly as a reply
is in the perplexity). Two scores rank the candidates:

- `logprob` (the headline): the candidate's mean log-probability per token given the context;
- `pmi`: log p(reply | context) - log p(reply | nothing), the candidate's pointwise mutual information with the
  context, which does not favour short, frequent replies ("Да.", "Не знаю.") as the mean log-probability may.

Why not PMI as the headline: its prior, the reply after an empty prompt, is a prompt the model never trained
on, and PMI rewards every reply that prior finds unlikely. On the synthetic corpus whose last reply copies the
first utterance's word (tests/test_evaluation.py), a model that reads the history ranks the true word first for
every sample by mean log-probability (hits@1 1.00 with the history, 0.00 without) but for 36 % by PMI: the other
words, improbable after an empty prompt, win on their prior. PMI stays reported, as the check on generic replies.

Ranks are reported as `hits_at_1`, `hits_at_5` (fractions) and `mrr`, per score, with the true history and with
none, and the gain (true - none) with a paired bootstrap 95 % interval. A zero-extra-parameter LM ranking: not
comparable with a trained classification head's (TransferTransfo's 80.7 % hits@1 on ConvAI2) except in kind.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
from datasets import Dataset

from ..errors import DataError
from ..format import last_utterances
from ..serving.generation import ChitChat
from .probe import dialogue_ids, reply_nll_sums

NUM_CANDIDATES = 20
HEADLINE = "logprob"
CONDITIONS = ("true_history", "no_history")
RANKING_NOTE = ("Ranking: the true reply among {candidates} (the others: replies of other validation dialogues, one "
                "seeded draw) for {samples} samples with history; `rank_logprob_*` (mean log-probability) is the "
                "headline, `rank_pmi_*` (log p(reply | context) - log p(reply | empty prompt)) the check on generic "
                "replies; fractions, ties count against the true reply; `*_gain` = true history - none, paired "
                "bootstrap 95 % CI.")


def draw_candidates(replies: Sequence[tuple], groups: Sequence[int], chosen: Sequence[int], seed: int,
                    num_candidates: int = NUM_CANDIDATES) -> list[list[int]]:
    """For each chosen sample, `num_candidates` sample indices: itself first, then distractors from other
    dialogues whose replies differ from its reply and from each other (one seeded draw for all samples)."""
    rng = random.Random(seed)
    draws = []
    for index in chosen:
        picked, seen = [index], {replies[index]}
        for _ in range(200 * num_candidates):
            if len(picked) == num_candidates:
                break
            other = rng.randrange(len(replies))
            if groups[other] != groups[index] and replies[other] not in seen:
                picked.append(other)
                seen.add(replies[other])
        else:
            raise DataError("ranking", f"fewer than {num_candidates - 1} distinct replies from other dialogues than "
                            f"sample {index}'s: too few validation dialogues to rank")
        draws.append(picked)
    return draws


def rank_of_true(scores: np.ndarray) -> np.ndarray:
    """(samples, candidates) scores, the true reply in column 0 -> its rank in each row (1 = best). Ties count
    against it: a model that scores every candidate alike ranks the true reply last, not first."""
    return 1 + (scores[:, 1:] >= scores[:, :1]).sum(axis=1)


def per_sample_figures(ranks: np.ndarray) -> dict[str, np.ndarray]:
    """Each sample's hit at 1, hit at 5 and reciprocal rank: their means are hits@1, hits@5 and MRR."""
    return {"hits_at_1": (ranks <= 1).astype(float), "hits_at_5": (ranks <= 5).astype(float), "mrr": 1.0 / ranks}


def bootstrap_difference_interval(a: np.ndarray, b: np.ndarray, seed: int, num_bootstrap: int = 1000,
                                  level: float = 0.95) -> tuple[float, float]:
    """Interval of mean(a) - mean(b) for paired per-sample values, over samples drawn with replacement."""
    draws = np.random.default_rng(seed).integers(0, len(a), size=(num_bootstrap, len(a)))
    low, high = np.quantile((a - b)[draws].mean(axis=1), [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def nll_sums_in_length_order(chat: ChitChat, rows: list[dict], batch_size: int) -> np.ndarray:
    """`reply_nll_sums` of `rows`, batched in length order (nearly no padding in 20 x samples rows), returned in
    the rows' order."""
    keep = chat.max_history

    def length(row: dict) -> int:
        return sum(map(len, last_utterances(row["history"], keep))) + len(row["input"]) + len(row["reply"])

    order = sorted(range(len(rows)), key=lambda i: length(rows[i]))
    sums = np.empty((len(rows), 2))
    sums[order] = reply_nll_sums(chat, [rows[i] for i in order], batch_size)
    return sums


def candidate_scores(chat: ChitChat, rows: list[dict], draws: list[list[int]], replies: list[list[int]],
                     batch_size: int) -> dict[str, dict[str, np.ndarray]]:
    """{score: {condition: (samples, candidates) array}}: mean log-probability and PMI of every candidate, with
    the true history and with none. A candidate's log p(reply | nothing) is scored once per distinct sample."""
    distinct = sorted({j for draw in draws for j in draw})
    prior = nll_sums_in_length_order(chat, [{"history": [], "input": [], "reply": replies[j]} for j in distinct], batch_size)
    prior_nll = dict(zip(distinct, prior[:, 0]))
    shape = (len(draws), len(draws[0]))
    figures: dict[str, dict[str, np.ndarray]] = {"logprob": {}, "pmi": {}}
    for condition in CONDITIONS:
        if condition == "no_history" and chat.max_history == 0:  # the model never reads history: the same scores
            figures["logprob"][condition], figures["pmi"][condition] = (
                figures["logprob"]["true_history"], figures["pmi"]["true_history"])
            continue
        pairs = [{"history": row["history"] if condition == "true_history" else [], "input": row["input"],
                  "reply": replies[j]} for row, draw in zip(rows, draws) for j in draw]
        sums = nll_sums_in_length_order(chat, pairs, batch_size)
        nll, tokens = sums[:, 0].reshape(shape), sums[:, 1].reshape(shape)
        figures["logprob"][condition] = -nll / tokens
        figures["pmi"][condition] = np.array([[prior_nll[j] for j in draw] for draw in draws]) - nll
    return figures


def ranking_metrics(chat: ChitChat, validation: Dataset, num_samples: int | None = 500, seed: int = 42,
                    batch_size: int = 64, num_candidates: int = NUM_CANDIDATES) -> tuple[dict[str, float], list[str]]:
    """`rank_{score}_{hits_at_1|hits_at_5|mrr}_{true_history|no_history|gain}` (gain with `_ci_low/_ci_high`)
    on `num_samples` validation samples with history (the probe's seeded choice; None: all). Returns the metrics
    and notes for the report; skipped, with a note, where the validation set has too few distinct replies."""
    chosen = [index for index, history in enumerate(validation["history"]) if history]
    if not chosen and chat.max_history == 0:  # split made for this checkpoint: rank without history
        chosen = list(range(len(validation)))
    if not chosen:
        return {}, ["Ranking skipped: no validation sample has history."]
    if num_samples is not None and num_samples < len(chosen):
        chosen = sorted(random.Random(seed).sample(chosen, num_samples))
    replies = validation["reply"][:]
    try:
        draws = draw_candidates([tuple(reply) for reply in replies], dialogue_ids(validation), chosen, seed, num_candidates)
    except DataError as error:
        return {}, [f"Ranking skipped: {error.problem}."]
    rows = list(validation.select(chosen).select_columns(["history", "input"]))
    metrics = {"rank_samples": float(len(chosen)), "rank_candidates": float(len(draws[0]))}
    for score, by_condition in candidate_scores(chat, rows, draws, replies, batch_size).items():
        figures = {condition: per_sample_figures(rank_of_true(by_condition[condition])) for condition in CONDITIONS}
        for name in ("hits_at_1", "hits_at_5", "mrr"):
            true, none = figures["true_history"][name], figures["no_history"][name]
            key = f"rank_{score}_{name}"
            metrics |= {f"{key}_true_history": float(true.mean()), f"{key}_no_history": float(none.mean()),
                        f"{key}_gain": float(true.mean() - none.mean())}
            metrics[f"{key}_gain_ci_low"], metrics[f"{key}_gain_ci_high"] = bootstrap_difference_interval(true, none, seed)
    return metrics, [RANKING_NOTE.format(candidates=len(draws[0]), samples=len(chosen))]
