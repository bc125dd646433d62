"""Book dialogue extraction against the gold set: how often a reader would accept what comes out.

Scores `turns.group_dialogues` on the excerpts of `tests/data/books_gold.jsonl` (see `books/gold.py`) with the
speaker cut on (the default) and off, in the same run, and lists the excerpts not exactly right.

    nice python benchmarks/books_gold.py [--books ../shared/data/books] [--gold tests/data/books_gold.jsonl] [--misses]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rugpt_chitchat.books.gold import load_gold, score_gold, words

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--books", type=Path, default=ROOT.parent / "shared" / "data" / "books")
    parser.add_argument("--gold", type=Path, default=ROOT / "tests" / "data" / "books_gold.jsonl")
    parser.add_argument("--misses", action="store_true", help="Print each excerpt not exactly right, expected and found.")
    args = parser.parse_args()
    gold = load_gold(args.gold)
    for split_speakers in (True, False):
        start = time.perf_counter()
        scores, misses = score_gold(gold, args.books, split_speakers=split_speakers)
        print(f"\n### split_speakers={split_speakers} ({time.perf_counter() - start:.1f} s)\n\n{scores.to_markdown()}")
        if args.misses and split_speakers:
            for excerpt, found in misses:
                print(f"\n{excerpt.kind}: {excerpt.book} paragraphs {excerpt.start}-{excerpt.end}")
                print("  expected:", [[f"{t['who']}: {' '.join(words(t['speech'])[:8])}" for t in d] for d in excerpt.expected()])
                print("  found:   ", [[" ".join(words(t)[:8]) for t in d] for d in found])


if __name__ == "__main__":
    main()
