"""Cleaning and the two dialogue-level dedup rules, as batched `datasets` steps."""

from __future__ import annotations

import re
import unicodedata

_LEADING_DASH = re.compile(r"^\s*[-–—]+\s*")
_SPACES = re.compile(r"\s+")
_NOT_WORD = re.compile(r"[^\w]+")


def normalize_utterance(text: str) -> str:
    """Comparison key: case, ё/е, punctuation and spacing do not matter."""
    text = unicodedata.normalize("NFKC", text).lower().replace("ё", "е")
    return _NOT_WORD.sub(" ", text).replace("_", " ").strip()


def clean_utterance(text: str) -> str:
    """Strip the leading dash and collapse whitespace."""
    return _SPACES.sub(" ", _LEADING_DASH.sub("", text)).strip()
