"""Pretraining on real books: documents, held-out whole books, eos-joined blocks, a base that `train` fine-tunes."""

from __future__ import annotations

import json

import pytest
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer

from rugpt_chitchat.cli import main
from rugpt_chitchat.errors import DataError
from rugpt_chitchat.serving.generation import ChitChat
from rugpt_chitchat.training.pretrain import group_into_blocks, read_documents, split_documents, tokenize_documents
from rugpt_chitchat.tokenizer import SPEAKER_BOT, SPEAKER_USER

SHORT_STORIES = ["Альбом", "Анюта", "Аптекарша", "Агафья", "Анна на шее"]
TINY_BASE = ["--config_overrides", "n_layer=2,n_embd=64,n_head=2,n_positions=64", "--block_size", "64",
             "--tokenizer_vocab_size", "1500", "--per_device_train_batch_size", "8", "--learning_rate", "1e-3",
             "--use_cpu", "true", "--report_to", "none", "--disable_tqdm", "true", "--early_stopping_patience", "0"]


@pytest.fixture(scope="module")
def books(shared_data) -> list[str]:
    """Five real Chekhov short stories (6-44 kB each)."""
    return [str(shared_data / "books" / "Chekhov" / f"{title}.txt") for title in SHORT_STORIES]


@pytest.fixture(scope="module")
def dialogue_file(tmp_path_factory, corpus_slice) -> str:
    path = tmp_path_factory.mktemp("dialogues") / "dialogues.txt"
    path.write_text("\n\n".join("\n".join(dialogue) for dialogue in corpus_slice[:600] + corpus_slice[1500:2100]) + "\n",
                    encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory, books, dialogue_file):
    output = tmp_path_factory.mktemp("base")
    main(["pretrain", "--data", *books, "--tokenizer_dialogues", dialogue_file, "--output_dir", str(output),
          "--validation_size", "0.2", "--max_steps", "12", "--eval_steps", "6", "--save_steps", "6", *TINY_BASE])
    return output


def test_documents_are_whole_books_with_one_paragraph_a_line(books):
    documents = read_documents(books)
    assert documents["name"] == books
    album = documents["text"][0]
    assert "\n" in album and "  " not in album and all(line.strip() == line and line for line in album.split("\n"))
    assert album.startswith("Антон Чехов\nАЛЬБОМ\nТитулярный советник") and len(album) > 3000


def test_held_out_documents_are_whole_stable_and_at_least_one():
    documents = Dataset.from_dict({"name": [f"book{i}" for i in range(40)], "text": ["текст"] * 40})
    splits = split_documents(documents, 0.1, seed=1)
    held_out = set(splits["validation"]["name"])
    assert len(held_out) == 4 and not held_out & set(splits["train"]["name"])
    assert set(split_documents(documents.select(range(39, -1, -1)), 0.1, seed=1)["validation"]["name"]) == held_out
    assert len(split_documents(documents.select(range(3)), 0.01, seed=1)["validation"]) == 1
    with pytest.raises(DataError, match="two documents or more"):
        split_documents(documents.select(range(1)), 0.1, seed=1)


def test_blocks_join_documents_with_eos_and_drop_only_the_tail(tokenizer):
    texts = ["Первая книга.\nВторой абзац.", "Вторая книга."]
    ids = tokenize_documents({"text": texts}, tokenizer)["input_ids"]
    expected = [*tokenizer(texts[0])["input_ids"], tokenizer.eos_token_id, *tokenizer(texts[1])["input_ids"],
                tokenizer.eos_token_id]
    assert [token for document in ids for token in document] == expected
    blocks = group_into_blocks({"input_ids": ids}, block_size=4)["input_ids"]
    assert [token for block in blocks for token in block] == expected[: len(expected) // 4 * 4]
    assert all(len(block) == 4 for block in blocks)


def test_pretrained_base_holds_out_books_and_keeps_the_dialogue_tokens(base_dir, books):
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    assert {SPEAKER_USER, SPEAKER_BOT} <= set(tokenizer.get_vocab()) and tokenizer.pad_token_id != tokenizer.eos_token_id
    assert "ворон" in tokenizer.decode(tokenizer("вороне")["input_ids"]), "the tokenizer reads Russian prose"
    results = json.loads((base_dir / "eval_results.json").read_text())
    state = json.loads((base_dir / "trainer_state.json").read_text())
    evaluations = [entry["eval_perplexity"] for entry in state["log_history"] if "eval_perplexity" in entry]
    assert state["global_step"] == 12 and 1 < results["eval_perplexity"] < len(tokenizer)
    assert results["eval_perplexity"] == min(evaluations) < evaluations[0], "held-out perplexity falls, the best is kept"
    assert ChitChat.from_pretrained(str(base_dir), device="cpu").reply(["Привет!"])
    assert "dialogue_format" not in json.loads((base_dir / "config.json").read_text()), "prose carries no dialogue format"


def test_train_fine_tunes_the_base_on_its_own_vocabulary(base_dir, dialogue_file, tmp_path):
    from rugpt_chitchat.training.finetune import train

    base = AutoModelForCausalLM.from_pretrained(base_dir)
    outcome = train(["--model_name_or_path", str(base_dir), "--data", dialogue_file, "--output_dir", str(tmp_path),
                     "--max_length", "64", "--max_steps", "3", "--eval_steps", "3", "--save_steps", "3",
                     "--max_eval_samples", "32", "--per_device_train_batch_size", "8", "--use_cpu", "true",
                     "--report_to", "none", "--disable_tqdm", "true"])
    tuned = AutoModelForCausalLM.from_pretrained(outcome.output_dir)
    assert tuned.get_input_embeddings().num_embeddings == base.get_input_embeddings().num_embeddings
    assert AutoTokenizer.from_pretrained(outcome.output_dir).get_vocab() == AutoTokenizer.from_pretrained(base_dir).get_vocab()
    assert outcome.perplexity_after < outcome.perplexity_before


def test_continued_pretraining_starts_from_the_base_and_its_tokenizer(base_dir, books, tmp_path):
    import shutil

    import torch

    from rugpt_chitchat.training.pretrain import pretrain

    old_base = tmp_path / "old-base"  # as older versions wrote it: a stand-in dialogue format in config.json
    shutil.copytree(base_dir, old_base)
    config = json.loads((old_base / "config.json").read_text())
    (old_base / "config.json").write_text(json.dumps(config | {"dialogue_format": {"max_length": 64}}))
    try:
        outcome = pretrain(["--model_name_or_path", str(old_base), "--data", *books[:3], "--output_dir",
                            str(tmp_path / "out"), "--validation_size", "0.3", "--max_steps", "2", "--eval_steps", "2",
                            "--save_steps", "2", "--cudnn_attention", "false", *TINY_BASE[2:]])
        assert not torch.backends.cuda.cudnn_sdp_enabled(), "cudnn_attention false turns cuDNN's SDPA kernel off"
    finally:
        torch.backends.cuda.enable_cudnn_sdp(True)
    assert AutoTokenizer.from_pretrained(outcome.output_dir).get_vocab() == AutoTokenizer.from_pretrained(base_dir).get_vocab()
    assert outcome.global_step == 2 and outcome.perplexity < 2 * len(AutoTokenizer.from_pretrained(base_dir))
    assert "dialogue_format" not in json.loads((tmp_path / "out" / "config.json").read_text())


def test_bad_prose_sources_are_named(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SystemExit):
        main(["pretrain", "--data", str(empty), "--output_dir", str(tmp_path / "out")])
    assert f"{empty}: holds no readable .txt or .fb2 books" in capsys.readouterr().err
    (tmp_path / "blank.txt").write_text("  \n\n", encoding="utf-8")
    (tmp_path / "short.txt").write_text("Коротко.", encoding="utf-8")
    with pytest.raises(SystemExit):
        main(["pretrain", "--data", str(tmp_path / "blank.txt"), str(tmp_path / "short.txt"), "--output_dir",
              str(tmp_path / "out"), "--tokenizer_vocab_size", "300", "--use_cpu", "true"])
    assert "two documents or more (got 0.05 and 1)" in capsys.readouterr().err, "the blank book is skipped"
