"""Reading `- реплика` text: the chunked line reader (CR line endings, a 16 MiB line guard) against iterating
the stream's lines in C (the reader before the guard), both decoding and stripping every line.

    OMP_NUM_THREADS=1 python benchmarks/text_lines.py [FILE.txt.xz ...]   # default: the two real corpora

The files are decompressed into memory first, so only the line splitting and decoding are timed; the ratio
printed is chunked / baseline (best of 5 each).
"""

from __future__ import annotations

import io
import lzma
import sys
import time
from pathlib import Path

from rugpt_chitchat.data.readers import _decoded_lines

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DEFAULT = [DATA / "cornell_movie_corpus.txt.xz", DATA / "extract_dialogues_from_anekdots.txt.xz"]


def old_decoded_lines(stream):
    """The reader before the guard: the stream's own line iteration (LF only, any length)."""
    for number, raw in enumerate(stream, start=1):
        yield number, raw.decode("utf-8-sig" if number == 1 else "utf-8").strip()


def baseline(data: bytes) -> int:
    return sum(1 for _ in old_decoded_lines(io.BytesIO(data)))


def chunked(data: bytes) -> int:
    return sum(1 for _ in _decoded_lines(io.BytesIO(data), "benchmark"))


def best_of(function, data: bytes, repeats: int = 5) -> tuple[float, int]:
    times, result = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        result = function(data)
        times.append(time.perf_counter() - start)
    return min(times), result


def main(paths: list[Path]) -> None:
    data = b"".join(lzma.open(path).read() if path.suffix == ".xz" else path.read_bytes() for path in paths)
    base, base_lines = best_of(baseline, data)
    ours, our_lines = best_of(chunked, data)
    assert base_lines == our_lines, (base_lines, our_lines)
    print(f"{len(data) / 1e6:.1f} MB, {our_lines:,} lines: baseline {base:.3f} s, chunked {ours:.3f} s, ratio {ours / base:.2f}")


if __name__ == "__main__":
    main([Path(arg) for arg in sys.argv[1:]] or DEFAULT)
