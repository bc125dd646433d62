"""Dialogue extraction speed over all the books, against the I/O floor measured in the same run.

Baseline: read every book, decode it and split it into lines (what any extractor must do).
Candidate: `extract_dialogues` over the same files. Best of `--repeats` runs each.

    python benchmarks/extract_books.py [--books ../shared/data/books] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rugpt_chitchat.books import extract_dialogues, find_books

DEFAULT_BOOKS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "books"


def read_and_split(books: list[Path]) -> int:
    return sum(len(book.read_bytes().decode("utf-8-sig").splitlines()) for book in books)


def best_time(function, repeats: int):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--books", type=Path, default=DEFAULT_BOOKS)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    books = find_books([args.books])
    megabytes = sum(book.stat().st_size for book in books) / 1e6
    floor, lines = best_time(lambda: read_and_split(books), args.repeats)
    extract, (dialogues, reports) = best_time(lambda: extract_dialogues(books), args.repeats)
    turns = sum(report.turns for report in reports)

    print(f"{len(books)} books, {megabytes:.1f} MB, {lines:,} lines; best of {args.repeats}")
    print("| step | time, s | MB/s |")
    print("| --- | ---: | ---: |")
    print(f"| baseline: read + decode + split lines | {floor:.2f} | {megabytes / floor:.1f} |")
    print(f"| extract_dialogues | {extract:.2f} | {megabytes / extract:.1f} |")
    print(f"\nfound {len(dialogues):,} dialogues, {turns:,} turns")
    print(f"extraction / baseline time ratio: {extract / floor:.1f}x")


if __name__ == "__main__":
    main()
