"""Batched vs one-by-one replies: `ChitChat.reply_batch` on 8 and 32 real histories against `reply` in a loop.

    python benchmarks/generate.py                       # a random GPT-2 (2 layers, 128 wide) with a BPE trained here
    python benchmarks/generate.py --checkpoint DIR      # a trained checkpoint
    python benchmarks/generate.py --layers 12 --width 768 --device cuda   # ruGPT-3 small's shape, random weights

Every reply is forced to `--new-tokens` tokens (min = max new tokens) and redraws are off, so both ways
generate the same number of tokens and the ratio is throughput alone.
"""

from __future__ import annotations

import argparse
import lzma
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
from transformers import GPT2Config, GPT2LMHeadModel  # noqa: E402

from rugpt_chitchat.data.cleaning import clean_utterance  # noqa: E402
from rugpt_chitchat.format import DialogueFormat  # noqa: E402
from rugpt_chitchat.serving.generation import ChitChat  # noqa: E402
from rugpt_chitchat.tokenizer import train_tokenizer  # noqa: E402

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "extract_dialogues_from_anekdots.txt.xz"


def read_dialogues(path: Path, count: int) -> list[list[str]]:
    """The first `count` dialogues of a `- реплика` corpus, cleaned utterances."""
    dialogues, current = [], []
    with lzma.open(path, "rt", encoding="utf-8") as stream:
        for line in stream:
            if line.strip():
                current.append(clean_utterance(line))
            elif current:
                dialogues.append(current)
                current = []
                if len(dialogues) == count:
                    break
    return dialogues


def tiny_checkpoint(directory: Path, dialogues: list[list[str]], layers: int, width: int) -> Path:
    """A random GPT-2 with a BPE trained on `dialogues`, saved as a checkpoint."""
    tokenizer = train_tokenizer((u for d in dialogues for u in d), directory, vocab_size=4000)
    config = GPT2Config(
        vocab_size=len(tokenizer), n_positions=256, n_embd=width, n_layer=layers, n_head=max(width // 64, 2),
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    GPT2LMHeadModel(config).save_pretrained(directory)
    DialogueFormat(max_history=3, max_length=256).save(directory)
    return directory


def add_model_arguments(parser: argparse.ArgumentParser, layers: int = 4, width: int = 256, device: str | None = "cpu") -> None:
    """--checkpoint (default: a random GPT-2 of --layers x --width with a BPE trained on the corpus) and --device."""
    parser.add_argument("--checkpoint", default=None, help="a trained checkpoint; default: a random tiny GPT-2")
    parser.add_argument("--layers", type=int, default=layers)
    parser.add_argument("--width", type=int, default=width)
    parser.add_argument("--device", default=device)


@contextmanager
def benchmark_chat(args: argparse.Namespace, dialogues: list[list[str]]) -> Iterator[tuple[ChitChat, str]]:
    """The ChitChat `add_model_arguments` asked for, and a line naming it (the random one lives while the block runs)."""
    with tempfile.TemporaryDirectory() as scratch:
        path = args.checkpoint or str(tiny_checkpoint(Path(scratch), dialogues, args.layers, args.width))
        name = args.checkpoint or f"random GPT-2, {args.layers} layers x {args.width}"
        yield ChitChat.from_pretrained(path, device=args.device), f"{name} on {args.device}"


def histories_of(dialogues: list[list[str]], count: int) -> list[list[str]]:
    """`count` histories of 1 to 4 utterances (different lengths: the batch needs left padding)."""
    usable = [d for d in dialogues if len(d) >= 2]
    return [usable[i][: 1 + i % min(4, len(usable[i]))] for i in range(count)]


def timed(function, repeats: int = 3) -> float:
    """Best of `repeats` wall times: the least disturbed by other processes on a shared machine."""
    times = []
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        function()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(parser, layers=2, width=128, device=None)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="a `- реплика` corpus (.txt.xz) for the histories")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (more only adds contention on 2 cores)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    dialogues = read_dialogues(args.corpus, 5000)
    with benchmark_chat(args, dialogues) as (chat, _):
        pass  # the model is in memory: the random checkpoint's files are not needed past loading
    chat.max_redraws = 0
    settings = {"max_new_tokens": args.new_tokens, "min_new_tokens": args.new_tokens}
    chat.reply_batch(histories_of(dialogues, 4), **settings)  # warm-up
    print(f"device {chat.model.device}, {chat.model.num_parameters() / 1e6:.1f}M parameters, "
          f"{args.new_tokens} new tokens per reply, torch threads {torch.get_num_threads()}")
    print("| histories | one by one (replies/s) | batched (replies/s) | speed-up |")
    print("| ---: | ---: | ---: | ---: |")
    for size in args.sizes:
        histories = histories_of(dialogues, size)
        single = timed(lambda: [chat.reply(history, **settings) for history in histories])
        batched = timed(lambda: chat.reply_batch(histories, **settings))
        print(f"| {size} | {size / single:.1f} | {size / batched:.1f} | {single / batched:.1f}x |", flush=True)


if __name__ == "__main__":
    main()
