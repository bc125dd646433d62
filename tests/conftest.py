"""Shared fixtures: the real corpora beside the repo, a tokenizer trained on them, a tiny random GPT-2."""

from __future__ import annotations

import lzma
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
JOKES = SHARED_DATA / "extract_dialogues_from_anekdots.txt.xz"
MOVIES = SHARED_DATA / "cornell_movie_corpus.txt.xz"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not JOKES.exists() or not MOVIES.exists():
        pytest.skip(f"real corpora not found in {SHARED_DATA} (clone the repo with ../shared beside it)")
    return SHARED_DATA


def read_corpus_slice(path: Path, max_dialogues: int) -> list[list[str]]:
    """The first `max_dialogues` dialogues of a `- реплика` corpus, raw lines, read independently of the library."""
    dialogues, current = [], []
    with lzma.open(path, "rt", encoding="utf-8") as stream:
        for line in stream:
            line = line.strip()
            if line:
                current.append(line)
                continue
            if current:
                dialogues.append(current)
                current = []
                if len(dialogues) == max_dialogues:
                    break
    if current and len(dialogues) < max_dialogues:
        dialogues.append(current)
    return dialogues


@pytest.fixture(scope="session")
def corpus_slice(shared_data) -> list[list[str]]:
    """3,000 real dialogues: 1,500 from each corpus."""
    return read_corpus_slice(JOKES, 1500) + read_corpus_slice(MOVIES, 1500)


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory, corpus_slice) -> Path:
    """A byte-level BPE with the dialogue special tokens, trained on the real slice."""
    from rugpt_chitchat.tokenizer import train_tokenizer

    directory = tmp_path_factory.mktemp("tokenizer")
    train_tokenizer((line.lstrip("- ") for dialogue in corpus_slice for line in dialogue), directory, vocab_size=2000)
    return directory


@pytest.fixture(scope="session")
def tokenizer(tokenizer_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tokenizer_dir)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tokenizer_dir, tokenizer) -> Path:
    """An untrained 2-layer GPT-2 saved as a checkpoint (model, tokenizer, dialogue format)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from rugpt_chitchat.format import DialogueFormat

    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(tokenizer), n_positions=128, n_embd=64, n_layer=2, n_head=2,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    directory = tmp_path_factory.mktemp("tiny-model")
    GPT2LMHeadModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    DialogueFormat(max_history=3, max_length=128).save(directory)
    return directory


@pytest.fixture(scope="session")
def books_dir() -> Path:
    """The shelf of real Russian prose: books/<Author>/<title>.txt."""
    books = SHARED_DATA / "books"
    if not books.is_dir():
        pytest.skip(f"real books not found in {books} (clone the repo with ../shared beside it)")
    return books


@pytest.fixture(scope="module")
def dialogue_file(tmp_path_factory, corpus_slice) -> Path:
    """1,200 real dialogues (half jokes, half movies) in the corpus' own `- реплика` format."""
    path = tmp_path_factory.mktemp("data") / "dialogues.txt"
    dialogues = corpus_slice[:600] + corpus_slice[1500:2100]
    path.write_text("\n\n".join("\n".join(dialogue) for dialogue in dialogues) + "\n", encoding="utf-8")
    return path
