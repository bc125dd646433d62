"""Training throughput on real dialogue samples: today's length-grouped padding vs packed rows (and more).

Every strategy trains the same model from the same initial weights on batches of the same real samples,
collated before timing (as dataloader workers would); we count real (non-pad) tokens and time optimizer steps:
  fixed           every batch padded to max_length, random order (the seed's "pad the whole dataset")
  dynamic         padded to the batch's longest sample, random order
  grouped         padded to the batch's longest, length-grouped order: `rugpt-chitchat train`'s default
  grouped-tokens  the same, in batches of --tokens-per-batch padded tokens (`max_tokens_per_batch`)
  packed          rows of --row-length tokens packed with whole samples (`packing: true`), --tokens-per-batch
                  per batch: one shape, no padding but each row's tail
  packed-compiled the same, through torch.compile (one shape, so one compilation)
A strategy@N packs rows of N tokens instead of --row-length (packed@256): attention over a row costs ~N per token.

    python benchmarks/train_throughput.py                 # CPU: the tiny model, grouped vs packed
    python benchmarks/train_throughput.py --device cuda   # GPU: ruGPT-3 small's shape, bf16, fused AdamW, MFU

Fused AdamW everywhere; on CUDA also bf16 autocast (fp32 master weights, as `bf16: true`) and TF32 matmuls. MFU = 6 N x tokens/s
over --peak-tflops (the 6N rule; attention FLOPs left out: samples average ~50 tokens, so they are small), for
all processed tokens (hardware) and for real tokens only (useful).
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

from rugpt_chitchat.data.cleaning import clean_utterance
from rugpt_chitchat.training.collator import LENGTH_COLUMN, DialogueCollator, with_length_column
from rugpt_chitchat.format import DialogueFormat
from rugpt_chitchat.training.packing import PackedCollator, pack_samples, token_budget_batches
from rugpt_chitchat.data.readers import read_many
from rugpt_chitchat.data.samples import PipelineConfig, prepare_dataset
from rugpt_chitchat.tokenizer import train_tokenizer

SHAPES = {
    "tiny": dict(n_layer=4, n_embd=256, n_head=4, n_positions=256),  # configs/tiny.yaml, room for max_length 256
    "rugpt3small": dict(n_layer=12, n_embd=768, n_head=12, n_positions=2048, vocab_size=50264),
}
DEFAULTS = {  # strategies, shape, tokens per batch, row length
    "cpu": ("grouped,grouped-tokens,packed", "tiny", 2048, 256),
    "cuda": ("grouped,grouped-tokens,packed,packed@256,packed-compiled@256", "rugpt3small", 65536, 1024),
}


def real_samples(data: str, max_dialogues: int, vocab_size: int):
    """Samples of the first `max_dialogues` dialogues and a BPE trained on them."""
    dialogues = read_many(sorted(glob.glob(data)))
    dialogues = dialogues.shuffle(seed=0).select(range(min(max_dialogues, len(dialogues))))
    tokenizer = train_tokenizer((clean_utterance(u) for d in dialogues["dialogue"] for u in d), vocab_size=vocab_size)
    samples, _ = prepare_dataset(dialogues, tokenizer, PipelineConfig(validation_size=0))
    return samples["train"], tokenizer


def epoch_plan(strategy: str, samples, collator, args) -> tuple[list[list[int]], float, object, object]:
    """The batches of one epoch under `strategy` as index lists, the share of real tokens in them (from the
    lengths, without collating), and the dataset and collator that turn an index list into a batch."""
    lengths = samples[LENGTH_COLUMN]
    strategy, _, row_length = strategy.partition("@")
    if strategy.startswith("packed"):
        row_length = int(row_length or args.row_length)
        rows = pack_samples(samples, collator, row_length, seed=0)
        per_batch = args.tokens_per_batch // row_length
        order = list(range(len(rows)))
        random.Random(0).shuffle(order)
        groups = [order[i : i + per_batch] for i in range(0, len(order) - per_batch + 1, per_batch)]
        return groups, sum(lengths) / (len(rows) * row_length), rows, PackedCollator(collator)
    if strategy == "grouped-tokens":
        groups = token_budget_batches(lengths, args.tokens_per_batch, seed=0)
        random.Random(0).shuffle(groups)
    else:
        if strategy == "grouped":
            order = list(LengthGroupedSampler(args.batch_size, lengths=lengths, generator=torch.Generator().manual_seed(0)))
        else:
            order = list(range(len(lengths)))
            random.Random(0).shuffle(order)
        groups = [order[i : i + args.batch_size] for i in range(0, len(order) - args.batch_size + 1, args.batch_size)]
    if strategy == "fixed":
        collator = DialogueCollator(collator.special, collator.dialogue_format, pad_to_multiple_of=args.max_length)
    padded = sum(len(group) * collator.padded_length(max(lengths[i] for i in group)) for group in groups)
    return groups, sum(lengths[i] for group in groups for i in group) / padded, samples, collator


def real_tokens(batch: dict, pad: int) -> int:
    return int(batch["input_ids"].ne(pad).sum())


def timed_steps(model, batches: list[dict], device: str, warmup: int, pad: int, bf16: bool) -> tuple[float, int, int]:
    """Seconds for the batches after `warmup` ones, and the real and processed tokens they hold."""
    cuda = device == "cuda"
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    autocast = torch.autocast(device, dtype=torch.bfloat16, enabled=bf16)
    # warm up on the widest batch, so the CUDA caching allocator holds blocks every later shape fits in; on a
    # GPU also run every distinct shape once untimed: kernels load lazily, on the first use of each new shape
    widest = max(batches, key=lambda batch: batch["input_ids"].numel())
    shapes = {tuple(batch["input_ids"].shape): batch for batch in batches}
    untimed = [widest] * warmup + (list(shapes.values()) if cuda else [])
    start, real, processed = 0.0, 0, 0
    for step, batch in enumerate(untimed + batches):
        if step == len(untimed):
            if cuda:
                torch.cuda.synchronize()
            start = time.perf_counter()
        inputs = {key: value.to(device, non_blocking=True) if torch.is_tensor(value) else value for key, value in batch.items()}
        with autocast:
            loss = model(**inputs).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step >= len(untimed):
            real += real_tokens(batch, pad)
            processed += batch["input_ids"].numel()
    if cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - start, real, processed


@torch.no_grad()
def packed_loss_gap(model, samples, collator: DialogueCollator, device: str) -> float:
    """|loss of 32 samples packed - the same padded|, in fp32: checks that this transformers build keeps packed
    samples apart on this device before any throughput is trusted."""
    chosen = samples.select(range(32))
    rows = pack_samples(chosen, collator, collator.dialogue_format.max_length, seed=0)
    batches = [PackedCollator(collator)(list(rows)), collator(list(chosen))]
    losses = [model(**{k: v.to(device) if torch.is_tensor(v) else v for k, v in b.items()}).loss for b in batches]
    return abs(float(losses[0] - losses[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/*.xz", help="glob of dialogue files")
    parser.add_argument("--max-dialogues", type=int, default=6000)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--strategies", help="comma-separated, the first is the baseline (default: see DEFAULTS)")
    parser.add_argument("--shape", choices=sorted(SHAPES), help="model shape (default: tiny on CPU, rugpt3small on CUDA)")
    parser.add_argument("--batch-size", type=int, default=32, help="samples per batch: fixed, dynamic, grouped")
    parser.add_argument("--tokens-per-batch", type=int, help="padded tokens per batch: grouped-tokens, packed")
    parser.add_argument("--row-length", type=int, help="tokens per packed row")
    parser.add_argument("--max-length", type=int, default=256, help="the format's default and configs/rugpt3small.yaml")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per strategy, spread evenly over the epoch")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--bf16", action=argparse.BooleanOptionalAction, help="bf16 autocast (default: on CUDA only)")
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak of the GPU (H100/H200 SXM: 989)")
    args = parser.parse_args()
    began = time.perf_counter()
    strategies, shape_name, tokens, row_length = DEFAULTS[args.device]
    strategies = (args.strategies or strategies).split(",")
    args.tokens_per_batch, args.row_length = args.tokens_per_batch or tokens, args.row_length or row_length
    args.bf16 = args.device == "cuda" if args.bf16 is None else args.bf16
    rows = [int(name.partition("@")[2] or args.row_length) for name in strategies if name.startswith("packed")]
    if rows and min(rows) < args.max_length:
        parser.error(f"packed rows of {min(rows)} tokens cannot hold samples of --max-length {args.max_length}")
    logging.disable(logging.WARNING)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True

    samples, tokenizer = real_samples(args.data, args.max_dialogues, vocab_size=8000)
    collator = DialogueCollator.from_tokenizer(tokenizer, DialogueFormat(max_length=args.max_length))
    samples = with_length_column(samples, collator)
    shape = dict(SHAPES[args.shape or shape_name])
    shape.setdefault("vocab_size", len(tokenizer))
    torch.manual_seed(0)
    initial = GPT2LMHeadModel(GPT2Config(**shape)).state_dict()
    check = GPT2LMHeadModel(GPT2Config(**shape)).to(args.device).eval()
    check.load_state_dict(initial)
    print(f"packed vs padded loss (fp32; TF32 matmuls on CUDA): |difference| = {packed_loss_gap(check, samples, collator, args.device):.2e}")
    del check
    parameters = sum(p.numel() for p in GPT2LMHeadModel(GPT2Config(**shape)).parameters())
    print(f"{len(samples):,} real samples, max_length {args.max_length}; batch {args.batch_size} samples or "
          f"{args.tokens_per_batch:,} tokens, packed rows of {args.row_length}; GPT-2 {shape} "
          f"({parameters / 1e6:.1f} M parameters) on {args.device}{', bf16 autocast' if args.bf16 else ''}, fused AdamW\n")
    mfu = args.device == "cuda"
    print("| strategy | batch shape (typical) | real tokens in batches (epoch) | real tokens/s | vs " + strategies[0] + " |"
          + (" MFU | useful MFU | warm-up incl. compile, s | peak GiB |" if mfu else ""))
    print("| --- | --- | ---: | ---: | ---: |" + (" ---: | ---: | ---: | ---: |" if mfu else ""))
    baseline = None
    for name in strategies:
        groups, fraction, dataset, collate = epoch_plan(name, samples, collator, args)
        spread = groups[:: max(len(groups) // (args.warmup + args.steps), 1)][: args.warmup + args.steps]
        batches = [collate(dataset.select(group)) for group in spread]
        model = GPT2LMHeadModel(GPT2Config(**shape)).to(args.device)
        model.load_state_dict(initial)
        model.train()
        if "compiled" in name:
            torch._dynamo.reset()  # a second shape would otherwise be compiled as a dynamic-shape graph
            model = torch.compile(model)
        if mfu:
            torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        try:
            seconds, real, processed = timed_steps(model, batches, args.device, args.warmup, collator.special.pad, args.bf16)
        except (RuntimeError, torch.OutOfMemoryError) as error:  # one failed strategy must not hide the others
            print(f"| {name} | failed: {str(error).splitlines()[0][:200]} |", flush=True)
            continue
        warm = time.perf_counter() - started - seconds
        rate = real / seconds
        baseline = baseline or rate
        shapes = [tuple(batch["input_ids"].shape) for batch in batches]
        typical = max(set(shapes), key=shapes.count)
        row = f"| {name} | {typical[0]} x {typical[1]} | {fraction:.1%} | {rate:,.0f} | {rate / baseline:.2f}x |"
        if mfu:
            peak = args.peak_tflops * 1e12
            row += f" {6 * parameters * processed / seconds / peak:.1%} | {6 * parameters * rate / peak:.1%} | {warm:.0f} |"
            row += f" {torch.cuda.max_memory_allocated() / 2**30:.0f} |"
        print(row, flush=True)
        del model
    print(f"\n{time.perf_counter() - began:.0f} s in all")


if __name__ == "__main__":
    main()
