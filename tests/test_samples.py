"""The pipeline on real corpus slices: drop counts, determinism across processes, split, history, old contract."""

from __future__ import annotations

import pickle
import re
import subprocess
import sys
import unicodedata

import pytest
from datasets import load_from_disk

from rugpt_chitchat import DataError, PipelineConfig, prepare_dataset, preprocess_data_for_model

from conftest import JOKES, MOVIES, read_corpus_slice


def write_corpus(path, dialogues):
    path.write_text("\n\n".join("\n".join(d) for d in dialogues) + "\n", encoding="utf-8")
    return path


def key(text: str) -> str:
    """Written apart from the library on purpose: lower case, ё as е, words only."""
    folded = unicodedata.normalize("NFKC", text).lower().replace("ё", "е")
    words = re.findall(r"[^\W_]+", folded)
    return " ".join(words) if words else re.sub(r"\s", "", folded)


def independent_drop_counts(dialogues):
    counts = {"short": 0, "seen": 0, "echo": 0}
    seen, kept = set(), []
    for dialogue in dialogues:
        turns = [" ".join(re.sub(r"^[-–—]+", "", line.strip()).split()) for line in dialogue]
        turns = [turn for turn in turns if turn]
        if len(turns) < 2:
            counts["short"] += 1
        elif key(turns[0]) in seen:
            counts["seen"] += 1
        else:
            seen.add(key(turns[0]))
            if any(key(a) == key(b) for a, b in zip(turns, turns[1:])):
                counts["echo"] += 1
            else:
                kept.append(turns)
    return counts, kept


@pytest.fixture(scope="module")
def big_slice(shared_data):
    return read_corpus_slice(JOKES, 6000) + read_corpus_slice(MOVIES, 6000)


@pytest.fixture(scope="module")
def big_slice_file(tmp_path_factory, big_slice):
    return write_corpus(tmp_path_factory.mktemp("corpus") / "slice.txt", big_slice)


def test_drop_counts_per_rule_match_an_independent_count(big_slice_file, big_slice, tokenizer):
    expected, kept = independent_drop_counts(big_slice)
    assert expected["seen"] > 500 and expected["echo"] > 10  # the slice really exercises both rules
    samples, summary = prepare_dataset([big_slice_file], tokenizer, PipelineConfig(validation_size=0))
    assert summary.dialogues_read == len(big_slice)
    assert summary.dialogues_dropped["fewer than 2 utterances"] == expected["short"]
    assert summary.dialogues_dropped["first utterance already seen"] == expected["seen"]
    assert summary.dialogues_dropped["a reply repeats the utterance it answers"] == expected["echo"]
    assert summary.splits["train"]["dialogues"] == len(kept)
    assert len(samples["train"]) == sum(len(d) - 1 for d in kept)


def test_two_processes_and_any_batch_size_give_the_same_samples(big_slice_file, tokenizer):
    one, _ = prepare_dataset([big_slice_file], tokenizer, PipelineConfig(preprocessing_num_workers=1, preprocessing_batch_size=1000))
    two, _ = prepare_dataset([big_slice_file], tokenizer, PipelineConfig(preprocessing_num_workers=2, preprocessing_batch_size=137))
    for split in ("train", "validation"):
        assert one[split].to_dict() == two[split].to_dict()


def test_no_dialogue_feeds_both_splits(big_slice_file, tokenizer):
    samples, summary = prepare_dataset([big_slice_file], tokenizer, PipelineConfig(validation_size=0.2, seed=7))
    openings = {
        split: {tuple(s["input"]) for s in samples[split] if not s["history"]} for split in ("train", "validation")
    }
    assert len(openings["validation"]) == summary.splits["validation"]["dialogues"]
    assert len(openings["train"]) == summary.splits["train"]["dialogues"]
    assert not openings["train"] & openings["validation"]
    again, _ = prepare_dataset([big_slice_file], tokenizer, PipelineConfig(validation_size=0.2, seed=7))
    assert again["validation"]["input"] == samples["validation"]["input"]


@pytest.mark.parametrize("max_history", [3, 1])
def test_history_is_the_utterances_right_before_the_input(big_slice, big_slice_file, tokenizer, max_history):
    _, kept = independent_drop_counts(big_slice)
    expected = []
    for dialogue in kept:
        ids = [tokenizer(turn, add_special_tokens=False)["input_ids"] for turn in dialogue]
        expected += [
            {"history": ids[max(0, i - max_history) : i], "input": ids[i], "reply": ids[i + 1]} for i in range(len(ids) - 1)
        ]
    samples, _ = prepare_dataset([big_slice_file], tokenizer, PipelineConfig(validation_size=0, max_history=max_history))
    assert max(len(h) for h in samples["train"]["history"]) == max_history
    assert samples["train"].to_list() == expected


def test_preprocess_data_for_model_keeps_the_original_contract(tmp_path, corpus_slice, tokenizer):
    dialogues = [[line[2:] for line in dialogue] for dialogue in corpus_slice[:400]]
    src, dest = tmp_path / "dialogues.pkl", tmp_path / "samples.pkl"
    src.write_bytes(pickle.dumps(dialogues))
    samples = preprocess_data_for_model(src, dest, tokenizer=tokenizer)
    with open(dest, "rb") as stream:
        assert pickle.load(stream) == samples
    _, kept = independent_drop_counts(dialogues)
    assert len(samples) == sum(len(d) - 1 for d in kept)
    assert list(samples[0]) == ["input", "reply", "history"]
    first = kept[0]
    assert tokenizer.decode(samples[0]["input"]) == first[0]
    assert tokenizer.decode(samples[0]["reply"]) == first[1]
    assert [tokenizer.decode(h) for h in samples[2]["history"]] == first[:2] if len(first) > 3 else True


def test_overlong_utterance_is_a_counted_drop(tmp_path, tokenizer):
    dialogues = [["- Привет", "- " + "а" * 1_000_000], ["- Как дела?", "- Хорошо."]]
    samples, summary = prepare_dataset([write_corpus(tmp_path / "long.txt", dialogues)], tokenizer, PipelineConfig(validation_size=0))
    assert summary.dialogues_dropped["an utterance over 2000 characters"] == 1
    assert len(samples["train"]) == 1
    assert "an utterance over 2000 characters | 1" in summary.to_markdown()


def test_nothing_left_is_an_error(tmp_path, tokenizer):
    with pytest.raises(DataError, match="no training samples"):
        prepare_dataset([write_corpus(tmp_path / "one.txt", [["- один"], ["- два"]])], tokenizer)


def test_cli_preprocess_prints_the_summary_and_saves(tmp_path, corpus_slice, tokenizer_dir):
    data = write_corpus(tmp_path / "slice.txt", corpus_slice[:300])
    output = tmp_path / "prepared"
    result = subprocess.run(
        [sys.executable, "-m", "rugpt_chitchat.cli", "preprocess", "--data", str(data),
         "--tokenizer_name", str(tokenizer_dir), "--output_dir", str(output), "--validation_size", "0.1"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "| dialogues read | 300 |" in result.stdout
    saved = load_from_disk(str(output))
    assert set(saved) == {"train", "validation"} and saved["train"].column_names == ["history", "input", "reply"]


def test_cli_names_a_missing_file(tmp_path, tokenizer_dir):
    result = subprocess.run(
        [sys.executable, "-m", "rugpt_chitchat.cli", "preprocess", "--data", str(tmp_path / "nope.txt"),
         "--tokenizer_name", str(tokenizer_dir), "--output_dir", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert "nope.txt: no such file" in result.stderr and "Traceback" not in result.stderr
