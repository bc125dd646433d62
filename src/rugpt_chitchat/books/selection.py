"""Which books to keep: the language of a text from its script, and duplicate editions.

Duplicates are found two cheap ways: the same text (paragraphs, whitespace-trimmed: a book re-encoded,
re-wrapped or renamed), or the same title and author with near-identical text (another edition: a few
paragraphs changed). Texts are compared by a bottom-k sketch of paragraph hashes (MinHash's cheap cousin),
so a book costs a hash per sampled paragraph and 1 KB of memory, whatever its length.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from array import array
from dataclasses import dataclass, field

SKETCH_SIZE = 256
_LATIN_BYTES = bytes(range(ord("A"), ord("Z") + 1)) + bytes(range(ord("a"), ord("z") + 1))
_KEY_NOISE = re.compile(r"[\W_]+")


def guess_language(paragraphs: list[str], sample_chars: int = 20_000) -> str:
    """'ru', 'uk' or 'be' when Cyrillic letters dominate a sample of the text, else '' (cannot tell).

    Pre-reform Russian (with ѣ) has і too, so ѣ decides for Russian before і is counted.
    """
    step = max(1, len(paragraphs) // 200)
    sample = "\n".join(paragraphs[::step])[:sample_chars]
    encoded = sample.encode("utf-8")
    cyrillic = encoded.count(b"\xd0") + encoded.count(b"\xd1")  # lead bytes of а-я, ё, і, ѣ in UTF-8
    latin = len(encoded) - len(encoded.translate(None, _LATIN_BYTES))
    if cyrillic == 0 or cyrillic < latin:
        return ""
    if any(letter in sample for letter in "ѣѢѳѲ"):
        return "ru"
    if any(letter in sample for letter in "ўЎ"):
        return "be"
    ukrainian = sum(map(sample.count, "іїєґІЇЄҐ"))
    return "uk" if ukrainian > 0.01 * cyrillic else "ru"


def text_hash(paragraphs: list[str]) -> bytes:
    """Hash of the text as trimmed paragraphs: blind to encoding, line breaks, wrapping and indents.

    UTF-16 because CPython keeps Cyrillic text in two bytes a letter: encoding is nearly a copy (UTF-8 costs
    more than the hash); SHA-256 runs on the CPU's SHA instructions.
    """
    return hashlib.sha256("\n".join(paragraphs).encode("utf-16-le")).digest()[:16]


def paragraph_sketch(paragraphs: list[str], size: int = SKETCH_SIZE) -> bytes:
    """The `size` smallest distinct hashes of a book's paragraphs, as bytes (4 per hash).

    A long book hashes only the paragraphs whose length is a multiple of 4: chosen by content, not position,
    so two editions sample the same paragraphs, and a quarter of the hashing is enough.
    """
    if len(paragraphs) >= 4 * size:
        paragraphs = [paragraph for paragraph in paragraphs if len(paragraph) % 4 == 0]
    hashes = sorted({zlib.crc32(paragraph.encode("utf-8")) for paragraph in paragraphs})
    return array("I", hashes[:size]).tobytes()


def sketch_similarity(first: bytes, second: bytes, size: int = SKETCH_SIZE) -> float:
    """Estimated Jaccard similarity of two books' paragraph sets from their sketches."""
    a, b = set(array("I", first)), set(array("I", second))
    union = sorted(a | b)[:size]
    return sum(1 for h in union if h in a and h in b) / len(union) if union else 1.0


def title_key(title: str, author: str) -> str:
    return _KEY_NOISE.sub(" ", f"{author}|{title}".lower().replace("ё", "е")).strip()


@dataclass
class DuplicateFinder:
    """Remembers kept books; `duplicate_of` names the kept book a new one repeats, or gives None."""

    similarity: float = 0.8
    by_hash: dict[bytes, str] = field(default_factory=dict)
    by_title: dict[str, list[tuple[str, bytes]]] = field(default_factory=dict)

    def duplicate_of(self, name: str, key: str, digest: bytes, sketch: bytes) -> str | None:
        original = self.by_hash.get(digest)
        editions = self.by_title.setdefault(key, [])
        if original is None:
            original = next((kept for kept, seen in editions if sketch_similarity(sketch, seen) >= self.similarity), None)
        if original is None:
            self.by_hash[digest] = name
            editions.append((name, sketch))
            return None
        # a copy under another title and author teaches that title and author: its next edition is found too
        if all(kept != original for kept, _ in editions):
            editions.append((original, sketch))
        return original
