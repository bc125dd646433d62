"""Training throughput on real dialogue samples: fixed padding (the seed) vs dynamic vs ours.

Every strategy trains the same model from the same initial weights on batches drawn from the same real
samples; we count real (non-pad) tokens per batch and time optimizer steps:
  fixed    every batch padded to max_length, random order (the seed's "pad the whole dataset")
  dynamic  padded to the batch's longest sample, random order
  ours     padded to the batch's longest sample, length-grouped order (the Trainer's LengthGroupedSampler
           on our precomputed `length` column: what `rugpt-chitchat train` does)

    python benchmarks/train_throughput.py                       # CPU, the tiny model of configs/tiny.yaml
    python benchmarks/train_throughput.py --device cuda --peak-tflops 989   # GPT-2 small shape, MFU

MFU = 6 * parameters * processed tokens/s / peak FLOP/s (the 6N rule; attention FLOPs left out), for all
processed tokens (hardware) and for real tokens only (useful).
"""

from __future__ import annotations

import argparse
import glob
import logging
import random
import time

import torch
from transformers import GPT2Config, GPT2LMHeadModel
from transformers.trainer_pt_utils import LengthGroupedSampler

from rugpt_chitchat.cleaning import clean_utterance
from rugpt_chitchat.collator import LENGTH_COLUMN, DialogueCollator, with_length_column
from rugpt_chitchat.format import DialogueFormat
from rugpt_chitchat.readers import read_many
from rugpt_chitchat.samples import PipelineConfig, prepare_dataset
from rugpt_chitchat.tokenizer import train_tokenizer

SHAPES = {
    "cpu": dict(n_layer=4, n_embd=256, n_head=4, n_positions=256),  # configs/tiny.yaml, room for max_length 256
    "cuda": dict(n_layer=12, n_embd=768, n_head=12, n_positions=2048, vocab_size=50264),  # ruGPT-3 small
}


def real_samples(data: str, max_dialogues: int, vocab_size: int):
    """Samples of the first `max_dialogues` dialogues and a BPE trained on them."""
    dialogues = read_many(sorted(glob.glob(data)))
    dialogues = dialogues.shuffle(seed=0).select(range(min(max_dialogues, len(dialogues))))
    tokenizer = train_tokenizer((clean_utterance(u) for d in dialogues["dialogue"] for u in d), vocab_size=vocab_size)
    samples, _ = prepare_dataset(dialogues, tokenizer, PipelineConfig(validation_size=0))
    return samples["train"], tokenizer


def batch_orders(lengths: list[int], batch_size: int, seed: int) -> dict[str, list[list[int]]]:
    shuffled = list(range(len(lengths)))
    random.Random(seed).shuffle(shuffled)
    grouped = list(LengthGroupedSampler(batch_size, lengths=lengths, generator=torch.Generator().manual_seed(seed)))
    cut = lambda order: [order[i : i + batch_size] for i in range(0, len(order) - batch_size + 1, batch_size)]  # noqa: E731
    return {"fixed": cut(shuffled), "dynamic": cut(shuffled), "ours": cut(grouped)}


def useful_fraction(batches: list[dict]) -> float:
    return sum(int(b["attention_mask"].sum()) for b in batches) / sum(b["attention_mask"].numel() for b in batches)


def timed_steps(model, batches: list[dict], device: str, warmup: int) -> tuple[float, int, int]:
    """Seconds for the batches after `warmup` ones, and the real and processed tokens they hold."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device == "cuda" else torch.autocast("cpu", enabled=False)
    start, real, processed = 0.0, 0, 0
    # warm up on the widest batch, so the CUDA caching allocator holds blocks every later shape fits in; on a
    # GPU also run every batch once untimed: kernels load lazily, on the first use of each new shape
    widest = max(batches, key=lambda batch: batch["input_ids"].shape[1])
    untimed = [widest] * warmup + (batches if device == "cuda" else [])
    batches, warmup = untimed + batches[warmup:], len(untimed)
    for step, batch in enumerate(batches):
        if step == warmup:
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
        batch = {key: value.to(device) for key, value in batch.items()}
        with autocast:
            loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step >= warmup:
            real += int(batch["attention_mask"].sum())
            processed += batch["attention_mask"].numel()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, real, processed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/*.xz", help="glob of dialogue files")
    parser.add_argument("--max-dialogues", type=int, default=6000)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=256, help="the format's default and configs/rugpt3small.yaml")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per strategy, spread evenly over the epoch")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak of the GPU (H100 SXM: 989)")
    args = parser.parse_args()
    logging.disable(logging.WARNING)

    samples, tokenizer = real_samples(args.data, args.max_dialogues, vocab_size=8000)
    collator = DialogueCollator.from_tokenizer(tokenizer, DialogueFormat(max_length=args.max_length))
    samples = with_length_column(samples, collator)
    fixed = DialogueCollator(collator.special, collator.dialogue_format, pad_to_multiple_of=args.max_length)
    collators = {"fixed": fixed, "dynamic": collator, "ours": collator}
    orders = batch_orders(samples[LENGTH_COLUMN], args.batch_size, seed=0)
    shape = dict(SHAPES[args.device])
    shape.setdefault("vocab_size", len(tokenizer))
    torch.manual_seed(0)
    initial = GPT2LMHeadModel(GPT2Config(**shape)).state_dict()
    parameters = sum(p.numel() for p in GPT2LMHeadModel(GPT2Config(**shape)).parameters())
    print(f"{len(samples):,} real samples, batch {args.batch_size}, max_length {args.max_length}, "
          f"GPT-2 {shape} ({parameters / 1e6:.1f} M parameters) on {args.device}\n")
    print("| strategy | real tokens in batches (whole epoch) | real tokens/s | speed-up vs fixed |" + (" MFU | useful MFU |" if args.device == "cuda" else ""))
    print("| --- | ---: | ---: | ---: |" + (" ---: | ---: |" if args.device == "cuda" else ""))
    baseline = None
    for name, batches in orders.items():
        fraction = useful_fraction([collators[name](samples.select(batch)) for batch in batches])
        spread = batches[:: max(len(batches) // (args.warmup + args.steps), 1)][: args.warmup + args.steps]
        timed = [collators[name](samples.select(batch)) for batch in spread]
        model = GPT2LMHeadModel(GPT2Config(**shape)).to(args.device)
        model.load_state_dict(initial)
        seconds, real, processed = timed_steps(model.train(), timed, args.device, args.warmup)
        rate = real / seconds
        baseline = baseline or rate
        row = f"| {name} | {fraction:.1%} | {rate:,.0f} | {rate / baseline:.2f}x |"
        if args.device == "cuda":
            peak = args.peak_tflops * 1e12
            row += f" {6 * parameters * processed / seconds / peak:.1%} | {6 * parameters * rate / peak:.1%} |"
        print(row)


if __name__ == "__main__":
    main()
