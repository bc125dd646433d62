"""Dialogue extraction over a library of zip archives, against the read-and-decode floor measured in the same run.

The library is built on the fly in a temporary directory from the shared books until it holds `--gigabytes`
of text: every book many times, as the original .txt, a renamed .txt, a cp1251 .txt, an fb2 wrapping, another
fb2 edition (a preface, ё restored in every 20th paragraph, the last 2 % of paragraphs missing) and a nested
.fb2.zip, spread over zip archives of `--books-per-archive` books.

Floor: `library.read_books` (each book read from its archive, decompressed, decoded or fb2-parsed into
paragraphs) in one process. Candidate: `extraction.extract_library` with `--lang ru` and dedup at
`preprocessing_num_workers` 1 and 2, and at 1 on a quarter of the library (memory must not grow with the
library). Each run is a fresh process with an empty `datasets` cache; peak memory is the largest RSS of the
main process and of any worker.

    nice python benchmarks/extract_books.py [--books ../shared/data/books] [--gigabytes 1] [--workdir /tmp]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import psutil

DEFAULT_BOOKS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "books"
VARIANTS = ("original", "renamed", "cp1251", "fb2", "edition", "nested")


def book_variant(path: Path, paragraphs: list[str], copy: int) -> tuple[str, bytes]:
    """The `copy`-th copy of a book: its member name and bytes."""
    from rugpt_chitchat.books.fb2 import build_fb2

    author, title = path.parent.name, path.stem
    variant = VARIANTS[copy % len(VARIANTS)]
    if variant == "cp1251":
        try:
            return f"{author}/{title} ({copy}, cp1251).txt", path.read_text(encoding="utf-8").encode("cp1251")
        except UnicodeEncodeError:
            variant = "renamed"
    if variant in ("original", "renamed"):
        return f"{author}/{title} ({copy}).txt", path.read_bytes()
    if variant == "edition":
        changed = [p.replace("е", "ё", 1) if i % 20 == 0 else p for i, p in enumerate(paragraphs)]
        kept = changed[: len(changed) - len(changed) // 50]  # the last 2 % missing
        return f"{author}/{title} ({copy}, edition).fb2", build_fb2(["Предисловие издателя.", *kept], title, author)
    fb2 = build_fb2(paragraphs, title, author)
    if variant == "fb2":
        return f"{author}/{title} ({copy}).fb2", fb2
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as inner:
        inner.writestr(f"{title}.fb2", fb2)
    return f"{author}/{title} ({copy}).fb2.zip", buffer.getvalue()


def build_library(books: Path, directory: Path, gigabytes: float, per_archive: int) -> tuple[dict[Path, int], int]:
    """Zip archives of book copies until `gigabytes` of book bytes; ({archive: its book bytes}, books)."""
    from rugpt_chitchat.books.library import BookRef, read_book

    originals = sorted(books.rglob("*.txt"))
    paragraphs = {path: read_book(BookRef(str(path))).paragraphs for path in originals}
    archives: dict[Path, int] = {}
    count, archive = 0, None
    while sum(archives.values()) < gigabytes * 1e9:
        for path in originals:
            if count % per_archive == 0:
                if archive:
                    archive.close()
                archive = zipfile.ZipFile(directory / f"library-{len(archives):03d}.zip", "w", zipfile.ZIP_DEFLATED, compresslevel=1)
                archives[Path(archive.filename)] = 0
            name, data = book_variant(path, paragraphs[path], count // len(originals))
            archive.writestr(name, data)
            archives[Path(archive.filename)] += len(data)
            count += 1
    archive.close()
    return archives, count


def run_floor(paths: list[str]) -> dict:
    from rugpt_chitchat.books.library import read_books

    chars = books = 0
    for _, text in read_books(paths):
        chars, books = chars + len(text), books + 1
    return {"books": books, "chars": chars}


def run_extraction(paths: list[str], output: str, workers: int) -> dict:
    from rugpt_chitchat.books.extract import ExtractArguments, extract_library

    args = ExtractArguments(books=paths, output=output, lang="ru", preprocessing_num_workers=workers)
    summary = extract_library(args)
    return {"dialogues": summary.dialogues, "kept_mb": summary.megabytes, "statuses": dict(summary.statuses)}


def measured(command: list[str], cache: Path) -> dict:
    """Run this script's `command` in a fresh process with its own datasets cache: result, time, peak RSS."""
    env = {**os.environ, "HF_DATASETS_CACHE": str(cache), "HF_DATASETS_DISABLE_PROGRESS_BARS": "1", "TQDM_DISABLE": "1"}
    done = subprocess.run([sys.executable, __file__, *command], env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.splitlines()[-1])


class MemorySampler(threading.Thread):
    """Largest RSS of this process and of any of its workers, sampled every 50 ms while the work runs."""

    def __init__(self):
        super().__init__(daemon=True)
        self.process, self.done = psutil.Process(), threading.Event()
        self.main = self.worker = 0

    def run(self):
        while not self.done.wait(0.05):
            self.main = max(self.main, self.process.memory_info().rss)
            for child in self.process.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    self.worker = max(self.worker, child.memory_info().rss)


def cpu_seconds() -> float:
    """CPU time of this process and of its finished workers: unlike wall time, blind to other jobs' load."""
    return sum(getattr(resource.getrusage(who), field) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
               for field in ("ru_utime", "ru_stime"))  # fmt: skip


def child_main(command: list[str]) -> None:
    """Import first (the package imports torch: ~0.4 GB, seconds), then time the work alone."""
    import datasets  # noqa: F401
    import rugpt_chitchat.books.extract  # noqa: F401

    imported = psutil.Process().memory_info().rss
    sampler = MemorySampler()
    sampler.start()
    kind, *rest = command
    start, cpu_start = time.perf_counter(), cpu_seconds()
    result = run_floor(rest) if kind == "floor" else run_extraction(rest[2:], rest[0], int(rest[1]))
    seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu_start
    sampler.done.set()
    sampler.join()
    print(json.dumps({**result, "seconds": seconds, "cpu": cpu, "after_import_mb": imported / 2**20,
                      "peak_main_mb": sampler.main / 2**20, "peak_worker_mb": sampler.worker / 2**20}))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--books", type=Path, default=DEFAULT_BOOKS)
    parser.add_argument("--gigabytes", type=float, default=1.0)
    parser.add_argument("--books-per-archive", type=int, default=500)
    parser.add_argument("--workdir", type=Path, default=None, help="where the temporary library goes")
    args = parser.parse_args()
    if not any(args.books.rglob("*.txt")):  # an empty or missing folder would copy nothing forever
        parser.error(f"{args.books}: no .txt books to build the library from")
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        archives, count = build_library(args.books, tmp, args.gigabytes, args.books_per_archive)
        size, on_disk = sum(archives.values()), sum(archive.stat().st_size for archive in archives)
        print(f"library: {count:,} books, {size / 1e9:.2f} GB of book bytes in {len(archives)} zip archives "
              f"({on_disk / 1e9:.2f} GB on disk), built in {time.perf_counter() - start:.0f} s; load {os.getloadavg()}")
        paths = [str(archive) for archive in archives]
        quarter = paths[: max(1, len(paths) // 4)]
        quarter_size = sum(archives[Path(path)] for path in quarter)
        runs = [("floor: read_books, 1 process", ["floor", *paths], 1, size)]
        for workers in (1, 2):
            runs.append((f"extract_library, num_proc {workers}", ["extract", str(tmp / f"out{workers}.txt"), str(workers), *paths], workers, size))
        runs.append(("extract_library, num_proc 1, 1/4 library", ["extract", str(tmp / "quarter.txt"), "1", *quarter], 1, quarter_size))
        print("| run | time, s | MB/s | MB/s per process | per-process time / floor | CPU s (main + workers) "
              "| CPU / floor CPU | peak RSS main (after imports) / worker, MB |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        floor_rate = floor_cpu = None
        for run, (label, command, workers, megabytes) in enumerate(runs):
            result = measured(command, tmp / f"cache-{run}")
            rate = megabytes / 1e6 / result["seconds"]
            floor_rate, floor_cpu = floor_rate or rate, floor_cpu or result["cpu"] / megabytes
            print(f"| {label} | {result['seconds']:.1f} | {rate:.1f} | {rate / workers:.1f} | {floor_rate / (rate / workers):.2f}x "
                  f"| {result['cpu']:.1f} | {result['cpu'] / megabytes / floor_cpu:.2f}x "
                  f"| {result['peak_main_mb']:.0f} ({result['after_import_mb']:.0f}) / {result['peak_worker_mb']:.0f} |", flush=True)
            if "dialogues" in result:
                print(f"|  ↳ {result['statuses']}, {result['dialogues']:,} dialogues, {result['dialogues'] / result['kept_mb']:.0f} "
                      f"per MB of kept books, {result['dialogues'] / (megabytes / 1e6):.1f} per MB read | | | | | | | |")
        print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in ("floor", "extract"):
        child_main(sys.argv[1:])
    else:
        main()
