"""Full preprocessing pipeline over both real corpora vs (a) one tokenizer call and (b) a seed-style loop.

    python benchmarks/preprocess.py [--num-proc 2] [--tokenizer DIR]

Each variant runs in its own process on a cold `datasets` cache, so peak RSS is its own. The tokenizer is
a byte-level BPE trained on the movie corpus (not timed) unless `--tokenizer` is given.
"""

from __future__ import annotations

import argparse
import json
import lzma
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CORPORA = [Path("../shared/data/extract_dialogues_from_anekdots.txt.xz"), Path("../shared/data/cornell_movie_corpus.txt.xz")]


def read_raw_dialogues() -> list[list[str]]:
    dialogues = []
    for path in CORPORA:
        with lzma.open(path, "rt", encoding="utf-8") as stream:
            blocks = stream.read().split("\n\n")
        dialogues += [[line.strip() for line in block.splitlines() if line.strip()] for block in blocks if block.strip()]
    return dialogues


def near_limit(tokenizer) -> dict:
    """The same fast tokenizer called once on all utterances (reading excluded)."""
    utterances = [line.lstrip("-–— ") for dialogue in read_raw_dialogues() for line in dialogue]
    start = time.perf_counter()
    tokenizer(utterances, add_special_tokens=False)
    return {"seconds": time.perf_counter() - start, "utterances": len(utterances)}


def seed_loop(tokenizer, encode_once: bool = False) -> dict:
    """The seed's way: clean and dedup in Python, then build each sample with `tokenizer.encode` calls.

    The seed encodes every utterance of a sample, so an utterance is encoded once per sample it is in
    (up to 5 times with history 3); `encode_once=True` is the stronger loop that encodes each one once.
    """
    from rugpt_chitchat.cleaning import clean_utterance, normalize_utterance

    start = time.perf_counter()
    seen, samples = set(), []
    for dialogue in read_raw_dialogues():
        turns = [t for t in (clean_utterance(line) for line in dialogue) if t]
        keys = [normalize_utterance(t) for t in turns]
        if len(turns) < 2 or keys[0] in seen:
            continue
        seen.add(keys[0])
        if any(a == b for a, b in zip(keys, keys[1:])):
            continue
        if encode_once:
            ids = [tokenizer.encode(t, add_special_tokens=False) for t in turns]
            samples += [{"history": ids[max(0, i - 3) : i], "input": ids[i], "reply": ids[i + 1]} for i in range(len(ids) - 1)]
            continue
        for i in range(len(turns) - 1):
            samples.append({
                "history": [tokenizer.encode(t, add_special_tokens=False) for t in turns[max(0, i - 3) : i]],
                "input": tokenizer.encode(turns[i], add_special_tokens=False),
                "reply": tokenizer.encode(turns[i + 1], add_special_tokens=False),
            })
    return {"seconds": time.perf_counter() - start, "samples": len(samples)}


def pipeline(tokenizer, num_proc: int) -> dict:
    """Ours, end to end from the .xz files: read, clean, dedup, split, tokenise, expand."""
    from rugpt_chitchat.samples import PipelineConfig, prepare_dataset

    start = time.perf_counter()
    samples, summary = prepare_dataset([str(p) for p in CORPORA], tokenizer, PipelineConfig(num_proc=num_proc))
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "samples": sum(len(split) for split in samples.values()), "summary": summary.to_markdown()}


def run_variant(name: str, tokenizer_dir: str, num_proc: int) -> None:
    import datasets
    from transformers import AutoTokenizer

    datasets.disable_progress_bars()
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    variants = {
        "near_limit": near_limit,
        "seed_loop": seed_loop,
        "loop_encode_once": lambda t: seed_loop(t, encode_once=True),
        "pipeline": lambda t: pipeline(t, num_proc),
    }
    result = variants[name](tokenizer)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({**result, "peak_rss_mb": own, "peak_rss_children_mb": children}))


def measure(name: str, tokenizer_dir: str, num_proc: int) -> dict:
    env = {**os.environ, "HF_DATASETS_CACHE": tempfile.mkdtemp(prefix="bench-cache-")}
    command = [sys.executable, __file__, "--variant", name, "--tokenizer", tokenizer_dir, "--num-proc", str(num_proc)]
    output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-proc", type=int, default=2)
    parser.add_argument("--tokenizer", default=None, help="tokenizer dir; default: a BPE trained on the movie corpus")
    parser.add_argument("--variant", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        return run_variant(args.variant, args.tokenizer, args.num_proc)

    tokenizer_dir = args.tokenizer
    if tokenizer_dir is None:
        from rugpt_chitchat.tokenizer import train_tokenizer

        tokenizer_dir = tempfile.mkdtemp(prefix="bench-tokenizer-")
        with lzma.open(CORPORA[1], "rt", encoding="utf-8") as stream:
            train_tokenizer((line[2:] for line in stream if line.strip()), tokenizer_dir, vocab_size=8000)

    ours = measure("pipeline", tokenizer_dir, args.num_proc)
    limit = measure("near_limit", tokenizer_dir, args.num_proc)
    seed = measure("seed_loop", tokenizer_dir, args.num_proc)
    once = measure("loop_encode_once", tokenizer_dir, args.num_proc)
    print(ours["summary"])
    print(f"\n| variant | seconds | peak RSS, MB (own / worker) |\n| --- | ---: | ---: |")
    print(f"| (a) one tokenizer call on {limit['utterances']:,} utterances | {limit['seconds']:.1f} | {limit['peak_rss_mb']:.0f} |")
    print(f"| (b) seed-style loop, {seed['samples']:,} samples | {seed['seconds']:.1f} | {seed['peak_rss_mb']:.0f} |")
    print(f"| (b') Python loop encoding each utterance once | {once['seconds']:.1f} | {once['peak_rss_mb']:.0f} |")
    print(f"| ours, num_proc={args.num_proc}, {ours['samples']:,} samples | {ours['seconds']:.1f} | "
          f"{ours['peak_rss_mb']:.0f} / {ours['peak_rss_children_mb']:.0f} |")
    print(f"\nours / (a) = {ours['seconds'] / limit['seconds']:.2f}x  (goal <= 1.5x)")
    print(f"(b) / ours = {seed['seconds'] / ours['seconds']:.2f}x faster  (goal >= 2.5x)")
    print(f"(b') / ours = {once['seconds'] / ours['seconds']:.2f}x faster")


if __name__ == "__main__":
    main()
