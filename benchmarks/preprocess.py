"""Full preprocessing pipeline over both real corpora vs (a) one tokenizer call and (b) a seed-style loop;
with `--scale N`, the original's scale instead: a pickle of N dialogues, stage by stage, vs the tokenizer.

    python benchmarks/preprocess.py [--num-proc 2] [--tokenizer DIR]
    python benchmarks/preprocess.py --scale 1000000 [--tokenizer DIR] [--num-proc N]

Each variant runs in its own process on a cold `datasets` cache, so peak RSS is its own. The tokenizer is
a byte-level BPE trained on the movie corpus (not timed) unless `--tokenizer` is given.
"""

from __future__ import annotations

import argparse
import json
import lzma
import os
import pickle
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


def write_scaled_pickle(path: Path, count: int) -> int:
    """`count` dialogues made from the real corpora: copy k of a dialogue gets " k" after its first utterance,
    so dedup (by first utterance) keeps the copies as it keeps the originals. Returns the utterance count."""
    base = [[line.lstrip("-–— ") for line in dialogue] for dialogue in read_raw_dialogues()]
    dialogues = []
    for index in range(count):
        copy, dialogue = divmod(index, len(base))
        dialogue = base[dialogue]
        dialogues.append([f"{dialogue[0]} {copy}", *dialogue[1:]] if copy else dialogue)
    with open(path, "wb") as stream:
        pickle.dump(dialogues, stream, protocol=pickle.HIGHEST_PROTOCOL)
    return sum(map(len, dialogues))


def scale_stages(tokenizer, path: str, num_proc: int | None) -> dict:
    """Ours on the big pickle, each stage timed: read, clean+dedup, split, tokenise+expand."""
    from rugpt_chitchat.data.readers import read_many
    from rugpt_chitchat.data.samples import PipelineConfig, PipelineSummary, clean_and_dedup, count_split, dialogues_to_samples, split_by_dialogue

    config, summary, seconds = PipelineConfig(preprocessing_num_workers=num_proc), PipelineSummary(), {}
    start = time.perf_counter()
    dialogues = read_many([path])
    seconds["read"] = time.perf_counter() - start
    dialogues, first_keys = clean_and_dedup(dialogues, config, summary)
    seconds["clean+dedup"] = time.perf_counter() - start - sum(seconds.values())
    splits = split_by_dialogue(dialogues, first_keys, config.validation_size, config.seed)
    seconds["split"] = time.perf_counter() - start - sum(seconds.values())
    for name, split in splits.items():
        summary.splits[name] = count_split(split, dialogues_to_samples(split, tokenizer, config))
    seconds["tokenise+expand"] = time.perf_counter() - start - sum(seconds.values())
    return {"stages": seconds, "seconds": time.perf_counter() - start, "summary": summary.to_markdown()}


def scale_floor(tokenizer, path: str, batch: int = 10_000) -> dict:
    """The fast tokenizer called on every utterance of the pickle (10,000 at a time, results dropped, so
    memory stays flat); reading excluded."""
    from rugpt_chitchat.data.readers import read_dialogues

    utterances = [u for dialogue in read_dialogues(path).with_format("arrow")["dialogue"].to_pylist() for u in dialogue]
    start = time.perf_counter()
    for offset in range(0, len(utterances), batch):
        tokenizer(utterances[offset : offset + batch], add_special_tokens=False)
    return {"seconds": time.perf_counter() - start, "utterances": len(utterances)}


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
    from rugpt_chitchat.data.cleaning import clean_utterance, normalize_utterance

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
    from rugpt_chitchat.data.samples import PipelineConfig, prepare_dataset

    start = time.perf_counter()
    samples, summary = prepare_dataset([str(p) for p in CORPORA], tokenizer, PipelineConfig(preprocessing_num_workers=num_proc))
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "samples": sum(len(split) for split in samples.values()), "summary": summary.to_markdown()}


def run_variant(name: str, tokenizer_dir: str, num_proc: int, data: str | None = None) -> None:
    import datasets
    from transformers import AutoTokenizer

    datasets.disable_progress_bars()
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    variants = {
        "near_limit": near_limit,
        "seed_loop": seed_loop,
        "loop_encode_once": lambda t: seed_loop(t, encode_once=True),
        "pipeline": lambda t: pipeline(t, num_proc),
        "scale_stages": lambda t: scale_stages(t, data, num_proc or None),
        "scale_floor": lambda t: scale_floor(t, data),
    }
    result = variants[name](tokenizer)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({**result, "peak_rss_mb": own, "peak_rss_children_mb": children}))


def measure(name: str, tokenizer_dir: str, num_proc: int, data: str | None = None) -> dict:
    env = {**os.environ, "HF_DATASETS_CACHE": tempfile.mkdtemp(prefix="bench-cache-")}
    command = [sys.executable, __file__, "--variant", name, "--tokenizer", tokenizer_dir, "--num-proc", str(num_proc)]
    command += ["--data", data] if data else []
    output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-proc", type=int, default=2)
    parser.add_argument("--tokenizer", default=None, help="tokenizer dir; default: a BPE trained on the movie corpus")
    parser.add_argument("--scale", type=int, default=None, help="benchmark a pickle of this many dialogues instead")
    parser.add_argument("--variant", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--data", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        return run_variant(args.variant, args.tokenizer, args.num_proc, args.data)

    tokenizer_dir = args.tokenizer
    if tokenizer_dir is None:
        from rugpt_chitchat.tokenizer import train_tokenizer

        tokenizer_dir = tempfile.mkdtemp(prefix="bench-tokenizer-")
        with lzma.open(CORPORA[1], "rt", encoding="utf-8") as stream:
            train_tokenizer((line[2:] for line in stream if line.strip()), tokenizer_dir, vocab_size=8000)

    if args.scale:
        return compare_at_scale(args.scale, tokenizer_dir, args.num_proc)
    ours = measure("pipeline", tokenizer_dir, args.num_proc)
    limit = measure("near_limit", tokenizer_dir, args.num_proc)
    seed = measure("seed_loop", tokenizer_dir, args.num_proc)
    once = measure("loop_encode_once", tokenizer_dir, args.num_proc)
    print(ours["summary"])
    print("\n| variant | seconds | peak RSS, MB (own / worker) |\n| --- | ---: | ---: |")
    print(f"| (a) one tokenizer call on {limit['utterances']:,} utterances | {limit['seconds']:.1f} | {limit['peak_rss_mb']:.0f} |")
    print(f"| (b) seed-style loop, {seed['samples']:,} samples | {seed['seconds']:.1f} | {seed['peak_rss_mb']:.0f} |")
    print(f"| (b') Python loop encoding each utterance once | {once['seconds']:.1f} | {once['peak_rss_mb']:.0f} |")
    print(f"| ours, num_proc={args.num_proc}, {ours['samples']:,} samples | {ours['seconds']:.1f} | "
          f"{ours['peak_rss_mb']:.0f} / {ours['peak_rss_children_mb']:.0f} |")
    print(f"\nours / (a) = {ours['seconds'] / limit['seconds']:.2f}x  (goal <= 1.5x)")
    print(f"(b) / ours = {seed['seconds'] / ours['seconds']:.2f}x faster  (goal >= 2.5x)")
    print(f"(b') / ours = {once['seconds'] / ours['seconds']:.2f}x faster")


def compare_at_scale(count: int, tokenizer_dir: str, num_proc: int) -> None:
    path = Path(tempfile.mkdtemp(prefix="bench-scale-")) / f"dialogues-{count}.pkl"
    utterances = write_scaled_pickle(path, count)
    print(f"{count:,} dialogues, {utterances:,} utterances, {path.stat().st_size / 2**20:.0f} MB pickle")
    ours = measure("scale_stages", tokenizer_dir, num_proc, str(path))
    floor = measure("scale_floor", tokenizer_dir, num_proc, str(path))
    print(ours["summary"])
    print("\n| step | seconds | peak RSS, MB (own / worker) |\n| --- | ---: | ---: |")
    for stage, seconds in ours["stages"].items():
        print(f"| ours: {stage} | {seconds:.1f} | |")
    print(f"| ours, whole run (num_proc={num_proc}) | {ours['seconds']:.1f} | "
          f"{ours['peak_rss_mb']:.0f} / {ours['peak_rss_children_mb']:.0f} |")
    print(f"| floor: tokenizer() on all {floor['utterances']:,} utterances | {floor['seconds']:.1f} | {floor['peak_rss_mb']:.0f} |")
    stages = ours["stages"]
    print(f"\nread + clean / tokenise = {(stages['read'] + stages['clean+dedup']) / stages['tokenise+expand']:.2f}  (goal <= 1)")
    print(f"ours / floor = {ours['seconds'] / floor['seconds']:.2f}x  (goal <= 1.5x)")


if __name__ == "__main__":
    main()
