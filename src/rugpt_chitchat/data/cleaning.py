"""Cleaning and the two dialogue-level dedup rules: one text at a time (Python) and a batch at a time (Arrow).

`clean_utterance`/`normalize_utterance` serve the bot, generation and the metrics; `clean_table` applies the
same rules, written with the same character classes, to a whole Arrow batch in C (pyarrow.compute), for
the data pipeline. `clean_table` is a pure function of one batch, so `num_proc` and `batch_size` cannot
change its result; the only global decision (which dialogue opened with an utterance first) is taken once,
over one column, by `apply_drop_rules`.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the Arrow half is for the data pipeline; the bot and generation import only the Python half
    import numpy as np
    import pyarrow as pa

MAX_UTTERANCE_CHARS = 2000

# Control characters other than the whitespace ones (tab, newlines), DEL, C1, and the zero-width ones
# (space, joiners, word joiner, byte order mark): invisible in a chat, and noise to the tokenizer.
_INVISIBLE = [(0x00, 0x08), (0x0E, 0x1F), (0x7F, 0x9F), (0x200B, 0x200D), (0x2060, 0x2060), (0xFEFF, 0xFEFF)]
# str.isspace(), less the characters above that it also counts (\x1c-\x1f, \x85)
_WHITESPACE = [(0x09, 0x0D), (0x20, 0x20), (0xA0, 0xA0), (0x1680, 0x1680), (0x2000, 0x200A), (0x2028, 0x2029),
               (0x202F, 0x202F), (0x205F, 0x205F), (0x3000, 0x3000)]
_DASHES = [(0x2D, 0x2D), (0x2013, 0x2014)]


def _char_class(ranges: list[tuple[int, int]], spell) -> str:
    return "[" + "".join(spell(a) if a == b else f"{spell(a)}-{spell(b)}" for a, b in ranges) + "]"


def _python(code: int) -> str:
    return f"\\U{code:08x}"


def _re2(code: int) -> str:
    return f"\\x{{{code:x}}}"


def _patterns(spell) -> dict[str, str]:
    """The same four patterns spelled for Python's `re` and for RE2 (pyarrow.compute)."""
    space, dash = _char_class(_WHITESPACE, spell), _char_class(_DASHES, spell)
    return {
        "invisible": _char_class(_INVISIBLE, spell),
        "leading_dash": f"^{space}*{dash}+{space}*",
        "spaces": f"{space}+",
        "not_word": r"[^\p{L}\p{N}]+" if spell is _re2 else r"[\W_]+",
    }


_RE = {name: re.compile(pattern) for name, pattern in _patterns(_python).items()}
_RE2 = _patterns(_re2)
_WORD_CHAR = re.compile(r"[^\W_]")
_RE2_PLAIN = "^" + _char_class([(0x20, 0x7E), (0x400, 0x45F)], _re2) + "*$"  # printable ASCII, basic Cyrillic

KEPT = ""
TOO_SHORT = "fewer than 2 utterances"
TOO_LONG = f"an utterance over {MAX_UTTERANCE_CHARS} characters"
SEEN_FIRST = "first utterance already seen"
ECHO = "a reply repeats the utterance it answers"
EMPTY_UTTERANCE = "empty or only a dash"
INVISIBLE_ONLY = "only control or zero-width characters"


def normalize_utterance(text: str) -> str:
    """Comparison key: case, ё/е, punctuation and spacing do not matter.

    Text with no letters or digits at all ("...", "?!") keeps its own form without spaces, so that it does
    not compare equal to every other such line.
    """
    folded = unicodedata.normalize("NFKC", text).lower().replace("ё", "е")
    return _RE["not_word"].sub(" ", folded).strip(" ") or _RE["spaces"].sub("", folded)


def has_words(text: str) -> bool:
    """At least one letter or digit: "." or ", …" say nothing, and a bot must not answer with them."""
    return _WORD_CHAR.search(text) is not None


def clean_utterance(text: str) -> str:
    """Drop control and zero-width characters, strip the leading dash, collapse whitespace."""
    text = _RE["leading_dash"].sub("", _RE["invisible"].sub("", text))
    return _RE["spaces"].sub(" ", text).strip(" ")


def _nfkc(texts: pa.Array) -> pa.Array:
    """NFKC, run only on the texts that need it: printable ASCII and basic Cyrillic are their own NFKC form,
    and normalising costs more than the rest of the key."""
    import pyarrow.compute as pc
    other = pc.invert(pc.match_substring_regex(texts, _RE2_PLAIN))
    if not pc.any(other).as_py():
        return texts
    return pc.replace_with_mask(texts, other, pc.utf8_normalize(texts.filter(other), "NFKC"))


def normalize_utterances(texts: pa.Array) -> pa.Array:
    """`normalize_utterance` over an Arrow array (case folding is Unicode's simple one, as Python's for
    Russian and English; Python folds a few letters such as a final Σ differently)."""
    import pyarrow.compute as pc
    folded = pc.replace_substring(pc.utf8_lower(_nfkc(texts)), "ё", "е")
    words = pc.utf8_trim(pc.replace_substring_regex(folded, _RE2["not_word"], " "), " ")
    return pc.if_else(pc.equal(words, ""), pc.replace_substring_regex(folded, _RE2["spaces"], ""), words)


def clean_utterances(texts: pa.Array) -> pa.Array:
    """`clean_utterance` over an Arrow array."""
    import pyarrow.compute as pc
    texts = pc.replace_substring_regex(texts, _RE2["invisible"], "")
    texts = pc.replace_substring_regex(texts, _RE2["leading_dash"], "", max_replacements=1)
    return pc.utf8_trim(pc.replace_substring_regex(texts, _RE2["spaces"], " "), " ")


def _per_dialogue(parents: np.ndarray, mask: np.ndarray, dialogues: int) -> np.ndarray:
    """How many of each dialogue's utterances `mask` selects."""
    import numpy as np
    return np.bincount(parents[mask], minlength=dialogues)


def clean_table(batch: pa.Table, max_utterance_chars: int = MAX_UTTERANCE_CHARS) -> pa.Table:
    """Clean one batch of dialogues; also key what the dedup rules need, so the text is normalised only once.

    Columns: `dialogue` (cleaned, empty utterances dropped), one count per utterance drop reason and
    `invisible_removed` (utterances that lost control or zero-width characters), `drop_reason` ("" = kept),
    `first_key` (rule 1) and `echoes` (rule 2: some reply equals, normalised, the utterance it answers).
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    dialogues = batch["dialogue"].combine_chunks()
    count = len(dialogues)
    raw = pc.fill_null(pc.list_flatten(dialogues), "")  # a Hub dataset may hold null utterances
    parents = pc.list_parent_indices(dialogues).to_numpy()
    cleaned = clean_utterances(raw)
    had_invisible = pc.match_substring_regex(raw, _RE2["invisible"]).to_numpy(zero_copy_only=False)
    empty = pc.equal(cleaned, "").to_numpy(zero_copy_only=False)
    kept, kept_parents = cleaned.filter(pa.array(~empty)), parents[~empty]
    lengths = _per_dialogue(parents, ~empty, count)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    too_long = _per_dialogue(kept_parents, pc.greater(pc.utf8_length(kept), max_utterance_chars).to_numpy(zero_copy_only=False), count)
    keys = normalize_utterances(kept)
    same_as_previous = pc.equal(keys[1:], keys[:-1]).to_numpy(zero_copy_only=False) & (kept_parents[1:] == kept_parents[:-1])
    reason = np.where(lengths < 2, TOO_SHORT, np.where(too_long > 0, TOO_LONG, KEPT))
    return pa.table({
        "dialogue": pa.ListArray.from_arrays(offsets, kept),
        EMPTY_UTTERANCE: _per_dialogue(parents, empty & ~had_invisible, count),
        INVISIBLE_ONLY: _per_dialogue(parents, empty & had_invisible, count),
        "invisible_removed": _per_dialogue(parents, had_invisible & ~empty, count),
        "drop_reason": pa.array(reason, pa.string()),
        "first_key": pc.fill_null(keys.take(pa.array(offsets[:-1], mask=lengths == 0)), ""),
        "echoes": _per_dialogue(kept_parents[1:], same_as_previous, count) > 0,
    })


def apply_drop_rules(table: pa.Table, dedup: bool = True) -> tuple[np.ndarray, Counter]:
    """Indices of the dialogues to keep and the count dropped per reason, rules applied in order.

    `table` has the `drop_reason`, `first_key` and `echoes` columns of `clean_table`. Rule 1 keeps the first
    dialogue opening with a given (normalised) utterance; rule 2 then drops a dialogue with an echo, so the
    model never learns to answer a question with itself. "First" is decided over the whole column at once,
    which is what makes the result independent of `num_proc`. `dedup=False` applies neither rule (for the
    ablation that measures what they are worth).
    """
    import numpy as np
    import pyarrow.compute as pc
    reasons = table["drop_reason"]
    dropped = Counter({reason: pc.sum(pc.equal(reasons, reason)).as_py() or 0 for reason in (TOO_SHORT, TOO_LONG, SEEN_FIRST, ECHO)})
    candidates = np.flatnonzero(pc.equal(reasons, KEPT).to_numpy(zero_copy_only=False))
    if not dedup:
        return candidates, dropped
    codes = pc.dictionary_encode(table["first_key"].take(candidates)).combine_chunks().indices.to_numpy()
    is_first = np.zeros(len(candidates), dtype=bool)
    is_first[np.unique(codes, return_index=True)[1]] = True
    echo = table["echoes"].take(candidates).to_numpy()
    dropped[SEEN_FIRST] = int((~is_first).sum())
    dropped[ECHO] = int((is_first & echo).sum())
    return candidates[is_first & ~echo], dropped
