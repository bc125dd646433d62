"""Cleaning and the two dialogue-level dedup rules, as batched `datasets` steps.

`clean_batch` is a pure function of one batch, so `num_proc` and `batch_size` cannot change its result;
the only global decision (which dialogue opened with an utterance first) is taken once, over one column.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

_LEADING_DASH = re.compile(r"^\s*[-–—]+\s*")
_SPACES = re.compile(r"\s+")
_NOT_WORD = re.compile(r"[\W_]+")
_WORD_CHAR = re.compile(r"[^\W_]")

MAX_UTTERANCE_CHARS = 2000

KEPT = ""
TOO_SHORT = "fewer than 2 utterances"
TOO_LONG = f"an utterance over {MAX_UTTERANCE_CHARS} characters"
SEEN_FIRST = "first utterance already seen"
ECHO = "a reply repeats the utterance it answers"


def normalize_utterance(text: str) -> str:
    """Comparison key: case, ё/е, punctuation and spacing do not matter.

    Text with no letters or digits at all ("...", "?!") keeps its own stripped form, so that it does not
    compare equal to every other such line.
    """
    folded = unicodedata.normalize("NFKC", text).lower().replace("ё", "е")
    return _NOT_WORD.sub(" ", folded).strip() or _SPACES.sub("", folded)


def has_words(text: str) -> bool:
    """At least one letter or digit: "." or ", …" say nothing, and a bot must not answer with them."""
    return _WORD_CHAR.search(text) is not None


def clean_utterance(text: str) -> str:
    """Strip the leading dash and collapse whitespace."""
    return _SPACES.sub(" ", _LEADING_DASH.sub("", text)).strip()


def clean_batch(batch: dict[str, list], max_utterance_chars: int = MAX_UTTERANCE_CHARS) -> dict[str, list]:
    """Clean one batch; also key what the dedup rules need, so the text is normalised only once.

    Adds `empty_utterances` (dropped, counted), `drop_reason` ("" = kept), `first_key` (rule 1) and
    `echoes` (rule 2: some reply equals, normalised, the utterance it answers).
    """
    columns: dict[str, list] = {"dialogue": [], "empty_utterances": [], "drop_reason": [], "first_key": [], "echoes": []}
    for dialogue in batch["dialogue"]:
        cleaned = [clean_utterance(utterance) for utterance in dialogue]
        kept = [utterance for utterance in cleaned if utterance]
        keys = [normalize_utterance(utterance) for utterance in kept]
        if len(kept) < 2:
            reason = TOO_SHORT
        elif any(len(utterance) > max_utterance_chars for utterance in kept):
            reason = TOO_LONG
        else:
            reason = KEPT
        columns["dialogue"].append(kept)
        columns["empty_utterances"].append(len(cleaned) - len(kept))
        columns["drop_reason"].append(reason)
        columns["first_key"].append(keys[0] if keys else "")
        columns["echoes"].append(any(previous == reply for previous, reply in zip(keys, keys[1:])))
    return columns


def apply_drop_rules(
    drop_reasons: list[str], first_keys: list[str], echoes: list[bool], dedup: bool = True
) -> tuple[list[int], Counter]:
    """Indices of the dialogues to keep and the count dropped per reason, rules applied in order.

    Rule 1 keeps the first dialogue opening with a given (normalised) utterance; rule 2 then drops a
    dialogue with an echo, so the model never learns to answer a question with itself. "Seen" is decided
    in one pass over one column, which is what makes the result independent of `num_proc`.
    `dedup=False` applies neither rule (for the ablation that measures what they are worth).
    """
    dropped: Counter = Counter({TOO_SHORT: 0, TOO_LONG: 0, SEEN_FIRST: 0, ECHO: 0})
    seen: set[str] = set()
    keep = []
    for index, (reason, key, echo) in enumerate(zip(drop_reasons, first_keys, echoes)):
        if reason:
            dropped[reason] += 1
        elif not dedup:
            keep.append(index)
        elif key in seen:
            dropped[SEEN_FIRST] += 1
        else:
            seen.add(key)
            if echo:
                dropped[ECHO] += 1
            else:
                keep.append(index)
    return keep, dropped
