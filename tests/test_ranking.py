"""Next-utterance ranking: the candidate draw, ranks and hits/MRR on hand-made scores, PMI against the prior."""

from __future__ import annotations

import numpy as np
import pytest
from datasets import Dataset

from rugpt_chitchat.errors import DataError
from rugpt_chitchat.evaluation.ranking import (
    bootstrap_difference_interval,
    draw_candidates,
    per_sample_figures,
    rank_of_true,
)


@pytest.fixture(scope="module")
def validation(corpus_slice, tokenizer):
    """The validation samples of 400 real dialogues."""
    from rugpt_chitchat.data.samples import PipelineConfig, prepare_dataset

    dialogues = Dataset.from_dict({"dialogue": corpus_slice[:200] + corpus_slice[1500:1700]})
    dataset, _ = prepare_dataset(dialogues, tokenizer, PipelineConfig(max_history=3, validation_size=0.1, seed=0))
    return dataset["validation"]


def test_hits_and_mrr_of_a_hand_made_score_matrix():
    """True reply in column 0: ranked 1st, 3rd, 6th and (a tie with two others counts against it) 3rd."""
    scores = np.array([
        [0.9, 0.1, 0.2, 0.3, 0.0, 0.0],
        [0.5, 0.7, 0.6, 0.1, 0.2, 0.3],
        [0.0, 0.1, 0.2, 0.3, 0.4, 0.5],
        [0.4, 0.4, 0.4, 0.1, 0.2, 0.3],
    ])
    ranks = rank_of_true(scores)
    assert ranks.tolist() == [1, 3, 6, 3]
    figures = {name: values.mean() for name, values in per_sample_figures(ranks).items()}
    assert figures["hits_at_1"] == pytest.approx(1 / 4)
    assert figures["hits_at_5"] == pytest.approx(3 / 4)
    assert figures["mrr"] == pytest.approx((1 + 1 / 3 + 1 / 6 + 1 / 3) / 4)
    assert rank_of_true(np.zeros((2, 20))).tolist() == [20, 20], "a constant scorer ranks the true reply last"


def test_candidates_come_from_other_dialogues_with_distinct_replies():
    replies = [(1,), (2,), (1,), (3,), (4,), (5,), (2,), (6,), (7,), (8,)]
    groups = [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    draws = draw_candidates(replies, groups, chosen=[1, 3, 5], seed=0, num_candidates=5)
    for index, draw in zip([1, 3, 5], draws):
        assert draw[0] == index and len(draw) == 5
        assert all(groups[other] != groups[index] for other in draw[1:])
        assert len({replies[other] for other in draw}) == 5, "no distractor repeats the true reply or another"
    assert draws == draw_candidates(replies, groups, [1, 3, 5], seed=0, num_candidates=5), "a fixed draw"
    with pytest.raises(DataError, match="distinct replies"):
        draw_candidates(replies, groups, [1], seed=0, num_candidates=9)


def test_bootstrap_difference_brackets_the_gain_and_is_zero_for_equal_runs():
    rng = np.random.default_rng(0)
    with_history = (rng.random(400) < 0.6).astype(float)
    without = (rng.random(400) < 0.4).astype(float)
    low, high = bootstrap_difference_interval(with_history, without, seed=0)
    assert low < with_history.mean() - without.mean() < high and low > 0.05
    assert bootstrap_difference_interval(without, without, seed=0) == (0.0, 0.0)


def test_ranking_of_an_untrained_model_on_real_samples(tiny_model_dir, validation):
    """Every figure present and within its range; PMI equals the log-probability difference it is built from."""
    from rugpt_chitchat.evaluation.ranking import candidate_scores, ranking_metrics
    from rugpt_chitchat.serving.generation import ChitChat

    chat = ChitChat.from_pretrained(str(tiny_model_dir), device="cpu")
    metrics, notes = ranking_metrics(chat, validation, num_samples=12, seed=0)
    assert metrics["rank_samples"] == 12 and metrics["rank_candidates"] == 20 and "is the headline" in notes[0]
    for score in ("pmi", "logprob"):
        for name in ("hits_at_1", "hits_at_5", "mrr"):
            for condition in ("true_history", "no_history"):
                assert 0 <= metrics[f"rank_{score}_{name}_{condition}"] <= 1
            gain = f"rank_{score}_{name}_gain"
            assert metrics[f"{gain}_ci_low"] <= metrics[gain] <= metrics[f"{gain}_ci_high"]
    row = validation.select([i for i, h in enumerate(validation["history"]) if h][:1])
    draws = [[0, 0]]  # the same candidate twice: equal scores, one from the prior
    scores = candidate_scores(chat, list(row), draws, row["reply"][:], batch_size=4)
    from rugpt_chitchat.evaluation.probe import reply_nll_sums

    given, prior = reply_nll_sums(chat, list(row))[0], reply_nll_sums(chat, [row[0] | {"history": [], "input": []}])[0]
    assert scores["logprob"]["true_history"][0, 0] == pytest.approx(-given[0] / given[1], rel=1e-5)
    assert scores["pmi"]["true_history"][0, 0] == pytest.approx(prior[0] - given[0], rel=1e-4, abs=1e-4)
