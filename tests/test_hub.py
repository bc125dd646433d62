"""The small shared policies (hub.py) and the experiments' typed overrides (experiments/common.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from rugpt_chitchat.errors import DataError, not_loadable
from rugpt_chitchat.hub import code_hash, is_offline, looks_local
from rugpt_chitchat.scoring import perplexity

sys.path.insert(0, str(Path(__file__).parents[1] / "experiments"))


def test_a_name_is_local_by_its_prefix_its_suffix_or_an_existing_parent(tmp_path):
    assert looks_local("./corpus") and looks_local("/data/corpus") and looks_local("~/corpus")
    assert looks_local("dialogues.txt.xz", {".xz"}) and not looks_local("user/data.v2", {".xz"})
    assert looks_local("user/data.v2", suffixes=None), "None: any suffix means a file"
    assert looks_local(str(tmp_path / "missing")) and not looks_local("ai-forever/rugpt3small_based_on_gpt2")


@pytest.mark.parametrize(("value", "offline"), [("1", True), ("true", True), ("ON", True), ("0", False), ("", False)])
def test_offline_is_read_as_huggingface_hub_reads_it(monkeypatch, value, offline):
    monkeypatch.setenv("HF_HUB_OFFLINE", value)
    assert is_offline() is offline
    message = str(not_loadable("nobody/nothing", "model", OSError("not found")))
    assert ("HF_HUB_OFFLINE is set" in message) is offline


def test_code_hash_changes_with_the_code(tmp_path):
    module = tmp_path / "rules.py"
    module.write_text("LIMIT = 1\n")
    before = code_hash(module)
    assert code_hash(module) == before
    module.write_text("LIMIT = 2\n")
    assert code_hash(module) != before


def test_perplexity_is_token_weighted_and_refuses_no_tokens():
    assert perplexity([2.0, 10.0], [1, 4])["loss"] == pytest.approx(12 / 5)
    with pytest.raises(DataError, match="no reply tokens"):
        perplexity([1.0], [0])


def test_an_experiment_run_is_typed_overrides_of_the_train_dataclasses():
    from common import VARIANTS, override

    from rugpt_chitchat.config import parse_config
    from rugpt_chitchat.training.finetune import ARGUMENT_CLASSES

    model, data, training, lora = override(parse_config([], ARGUMENT_CLASSES, prog="train"),
                                     VARIANTS["baseline"] | {"max_steps": 7, "seed": 3, "cudnn_attention": False})
    assert data.max_history == 0 and not data.dialogue_format().use_token_type_ids
    assert training.max_steps == 7 and training.seed == 3 and not training.cudnn_attention
    with pytest.raises(ValueError, match="max_histroy"):
        override((model, data, training, lora), {"max_histroy": 2})


def test_the_goal_table_judges_each_run_against_its_own_seeds_baseline():
    from books_report import goal_table

    def metrics(perplexity, probe_low, rank_gain):
        return {"metrics": {"reply_perplexity": perplexity, "history_gain_shuffled_ci_low": probe_low,
                            "rank_logprob_hits_at_1_gain": rank_gain}}

    runs = {"books/baseline/seed0": metrics(100.0, 1.0, 0.0), "books/baseline/seed1": metrics(90.0, 1.0, 0.0),
            "books/history-random/seed0": metrics(95.0, 1.06, 0.05),  # meets all three
            "books/history-random/seed1": metrics(95.0, 1.06, 0.08),  # below seed 0's baseline, above its own
            "books/history/seed0": metrics(99.0, 1.04, 0.02)}
    rows = {row.split(" | ")[0].lstrip("| "): row.split(" | ")[-1].rstrip(" |") for row in goal_table({"runs": runs})[2:]}
    assert rows == {"books/history-random/seed0": "all", "books/history-random/seed1": "misses perplexity",
                    "books/history/seed0": "misses probe, ranking"}
