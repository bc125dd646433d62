"""Start-of-epoch cost of length-grouped batches: the Trainer's stock samplers vs DialogueTrainer's.

The stock samplers hold `dataset["length"]`, a lazy `datasets.Column` whose every `[i]` re-reads the column;
sorting by it cost minutes per epoch on the real corpora. DialogueTrainer reads the column once as a list.
Builds the real samples (both corpora, a 4000-token BPE) once into --work, then times, for the same trainer,
the first index of each sampler and the first 20 batches of the train dataloader:

    python benchmarks/length_sampler.py --work /tmp/length_sampler
"""

from __future__ import annotations

import argparse
import glob
import time
from pathlib import Path

from transformers import Trainer

from rugpt_chitchat.data.cleaning import clean_utterance
from rugpt_chitchat.data.readers import read_many
from rugpt_chitchat.data.samples import PipelineConfig, prepare_dataset, save_samples
from rugpt_chitchat.tokenizer import train_tokenizer
from rugpt_chitchat.training.finetune import build_trainer, parse_arguments


def real_samples(work: Path, corpora: list[str]) -> Path:
    """Tokenizer and samples of the two corpora, made once."""
    data = work / "data"
    if not data.exists():
        dialogues = read_many(corpora)
        texts = (clean_utterance(utterance) for dialogue in dialogues["dialogue"] for utterance in dialogue)
        tokenizer = train_tokenizer(texts, work / "tokenizer", 4000)
        config = PipelineConfig(preprocessing_num_workers=2)
        save_samples(prepare_dataset(corpora, tokenizer, config)[0], data, config, corpora, str(work / "tokenizer"))
    return data


def seconds_to_first(iterable) -> float:
    started = time.perf_counter()
    next(iter(iterable))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("/tmp/length_sampler"))
    parser.add_argument("--corpora", nargs="+", default=sorted(glob.glob("../shared/data/*.txt.xz")))
    args = parser.parse_args()
    data = real_samples(args.work, args.corpora)
    trainer = build_trainer(*parse_arguments([
        "--data", str(data), "--tokenizer_name", str(args.work / "tokenizer"), "--output_dir", str(args.work / "out"),
        "--config_overrides", "n_layer=2,n_embd=64,n_head=2", "--per_device_train_batch_size", "128",
        "--per_device_eval_batch_size", "128", "--max_eval_samples", "2000", "--use_cpu", "true", "--report_to", "none",
    ]))
    print(f"{len(trainer.train_dataset):,} training samples, {len(trainer.eval_dataset):,} validation samples")
    rows = [
        ("train sampler", Trainer._get_train_sampler(trainer), trainer._get_train_sampler()),
        ("eval sampler", Trainer._get_eval_sampler(trainer, trainer.eval_dataset), trainer._get_eval_sampler(trainer.eval_dataset)),
    ]
    print("| first index of | stock Trainer s | DialogueTrainer s | ratio |\n| --- | ---: | ---: | ---: |")
    for name, stock, ours in rows:
        before, after = seconds_to_first(stock), seconds_to_first(ours)
        print(f"| {name} | {before:.2f} | {after:.3f} | {before / after:.0f}x |")
    started = time.perf_counter()
    for count, _ in enumerate(trainer.get_train_dataloader(), 1):
        if count == 20:
            break
    print(f"DialogueTrainer train dataloader: 20 batches of 128 in {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
