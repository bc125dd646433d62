"""Candidate scoring of the next-utterance ranking: batches in length order (`ranking.nll_sums_in_length_order`)
vs the same rows in draw order (each sample's 20 candidates in a row), through the same `reply_nll_sums`.

A random GPT-2 of the CPU experiment's shape (2 x 128), a 2,000-token BPE and the validation samples of the first
--dialogues dialogues of each corpus; the pairs of --samples samples with history x 20 candidates, with the true
history. Prints seconds, padded tokens per real token and the ratio:

    OMP_NUM_THREADS=1 python benchmarks/ranking.py [--dialogues 2000] [--samples 100] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from datasets import Dataset
from transformers import GPT2Config, GPT2LMHeadModel

from rugpt_chitchat.data.cleaning import clean_utterance
from rugpt_chitchat.data.readers import read_many
from rugpt_chitchat.data.samples import PipelineConfig, prepare_dataset
from rugpt_chitchat.evaluation.ranking import draw_candidates, nll_sums_in_length_order
from rugpt_chitchat.evaluation.probe import dialogue_ids, reply_nll_sums
from rugpt_chitchat.format import DialogueFormat
from rugpt_chitchat.serving.generation import ChitChat
from rugpt_chitchat.tokenizer import train_tokenizer
from rugpt_chitchat.training.collator import DialogueCollator

CORPORA = ["../shared/data/extract_dialogues_from_anekdots.txt.xz", "../shared/data/cornell_movie_corpus.txt.xz"]


def checkpoint(directory: Path, dialogues: Dataset) -> ChitChat:
    texts = (clean_utterance(utterance) for dialogue in dialogues["dialogue"] for utterance in dialogue)
    tokenizer = train_tokenizer(texts, directory, 2000)
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=128, n_embd=128, n_layer=2, n_head=2,
                        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                        pad_token_id=tokenizer.pad_token_id)
    GPT2LMHeadModel(config).save_pretrained(directory)
    DialogueFormat(max_history=3, max_length=128).save(directory)
    return ChitChat.from_pretrained(str(directory), device="cpu")


def padded_per_real(chat: ChitChat, rows: list[dict], batch_size: int) -> float:
    collator = DialogueCollator(chat.special, chat.format)
    lengths = [len(collator.segments(row)["input_ids"]) for row in rows]
    padded = sum(max(lengths[i : i + batch_size]) * len(lengths[i : i + batch_size]) for i in range(0, len(rows), batch_size))
    return padded / sum(lengths)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dialogues", type=int, default=2000, help="dialogues read from each corpus")
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    corpora = read_many(CORPORA)
    dialogues = corpora.select([*range(args.dialogues), *range(len(corpora) - args.dialogues, len(corpora))])
    with tempfile.TemporaryDirectory() as directory:
        chat = checkpoint(Path(directory), dialogues)
        validation = prepare_dataset(dialogues, chat.tokenizer, PipelineConfig(validation_size=0.2, seed=0))[0]["validation"]
        chosen = [index for index, history in enumerate(validation["history"]) if history][: args.samples]
        replies = validation["reply"][:]
        draws = draw_candidates([tuple(reply) for reply in replies], dialogue_ids(validation), chosen, seed=0)
        rows = [{"history": validation[i]["history"], "input": validation[i]["input"], "reply": replies[j]}
                for i, draw in zip(chosen, draws) for j in draw]
        ordered = sorted(rows, key=lambda row: len(row["reply"]) + len(row["input"]) + sum(map(len, row["history"][-3:])))
        timings = {}
        for name, score in (("draw order", lambda: reply_nll_sums(chat, rows, args.batch_size)),
                            ("length order", lambda: nll_sums_in_length_order(chat, rows, args.batch_size))):
            started = time.perf_counter()
            result = score()
            timings[name] = time.perf_counter() - started
            print(f"{name:>12}: {timings[name]:.2f} s for {len(rows)} rows")
        torch.testing.assert_close(torch.tensor(result), torch.tensor(reply_nll_sums(chat, rows, args.batch_size)), check_dtype=False)
        print(f"padded tokens per real token: draw order {padded_per_real(chat, rows, args.batch_size):.2f}, "
              f"length order {padded_per_real(chat, ordered, args.batch_size):.2f}")
        print(f"ratio (draw order / length order): {timings['draw order'] / timings['length order']:.2f}x")


if __name__ == "__main__":
    main()
