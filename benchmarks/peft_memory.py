"""Peak memory and trainable parameters of full fine-tuning vs LoRA at ruGPT-3 large's shape, on CPU.

A GPT-2 of 24 layers x 1536 (vocab 50,264 + the two speaker tokens; random weights: no download) takes a few
AdamW steps on random token ids with speaker token_type_ids, in fp32, each mode in a fresh process, one
after the other (full fine-tuning needs ~14 GB: never run them side by side). LoRA is `train --use_peft true`'s
own wrapping (`rugpt_chitchat.training.peft.lora_model`, default settings: r=16 on every linear layer, the
speaker rows trainable). Peak memory is the process's maximum resident set size; the ratio is LoRA / full.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/peft_memory.py             # ~10 minutes on one core
    python benchmarks/peft_memory.py --layers 4 --steps 2                     # a quick check of the script

On a GPU (not measured here) the same comparison, with QLoRA too, is `train` itself at this shape: see docs/peft.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import torch
from transformers import GPT2Config, GPT2LMHeadModel

from rugpt_chitchat.training.peft import LoraArguments, lora_model

VOCAB, SPEAKERS = 50264, 2  # ruGPT-3's embedding rows, and the speaker tokens training adds


def train_steps(mode: str, layers: int, steps: int, batch: int, length: int) -> dict:
    """One warm-up step (the optimizer allocates its state there) and `steps` timed ones; the figures."""
    torch.manual_seed(0)
    config = GPT2Config(n_layer=layers, n_embd=1536, n_head=16, n_positions=2048, vocab_size=VOCAB + SPEAKERS)
    model = GPT2LMHeadModel(config)
    speakers = [VOCAB, VOCAB + 1]
    if mode == "lora":
        model = lora_model(model, LoraArguments(use_peft=True), speakers)
    trainable = [weights for weights in model.parameters() if weights.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-5, fused=True)
    ids = torch.randint(VOCAB, (batch, length))
    types = torch.tensor(speakers)[torch.arange(length) * 2 // length].expand(batch, length)
    timings = []
    for _ in range(steps + 1):
        start = time.perf_counter()
        model(input_ids=ids, token_type_ids=types, labels=ids).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        timings.append(time.perf_counter() - start)
    return {
        "mode": mode,
        "parameters": sum(weights.numel() for weights in model.parameters()),
        "trainable": sum(weights.numel() for weights in trainable),
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "seconds_per_step": sum(timings[1:]) / steps,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", type=int, default=24)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--child", choices=["full", "lora"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    shape = [args.layers, args.steps, args.batch, args.length]
    if args.child:
        print(json.dumps(train_steps(args.child, *shape)))
        return
    print(f"GPT-2 {args.layers} x 1536, vocab {VOCAB + SPEAKERS:,}; {args.steps} AdamW steps of {args.batch} x "
          f"{args.length} tokens, fp32, {torch.get_num_threads()} threads")
    results = {}
    for mode in ("full", "lora"):
        command = [sys.executable, __file__, "--child", mode, *(f"--{k}={v}" for k, v in vars(args).items() if k != "child")]
        results[mode] = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
        r = results[mode]
        print(f"{mode:>4}: peak RSS {r['peak_rss_gib']:6.2f} GiB, trainable {r['trainable']:>13,} of "
              f"{r['parameters']:,} ({100 * r['trainable'] / r['parameters']:.2f} %), {r['seconds_per_step']:.1f} s/step")
    full, lora = results["full"], results["lora"]
    print(f"LoRA / full: peak memory {lora['peak_rss_gib'] / full['peak_rss_gib']:.2f}x, trainable parameters "
          f"{lora['trainable'] / full['trainable']:.4f}x, time per step {lora['seconds_per_step'] / full['seconds_per_step']:.2f}x")


if __name__ == "__main__":
    main()
