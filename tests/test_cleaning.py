"""Cleaning and the two dedup rules: one text in Python (the bot, the metrics) and a batch in Arrow (the
pipeline) give the same result; every dropped dialogue is counted under its reason."""

from __future__ import annotations

import pyarrow as pa

from rugpt_chitchat.data.cleaning import (
    ECHO,
    INVISIBLE_ONLY,
    SEEN_FIRST,
    TOO_LONG,
    TOO_SHORT,
    apply_drop_rules,
    clean_table,
    clean_utterance,
    has_words,
    normalize_utterance,
)


def test_cleaning_strips_one_leading_dash_invisible_characters_and_extra_spaces():
    assert clean_utterance("—  Ёлка,   ёж!") == "Ёлка, ёж!"
    assert clean_utterance("- - двойное тире") == "- двойное тире", "only the dialogue dash goes"
    assert clean_utterance("\u200bПри\x00вет\tмир\r\n") == "Привет мир"


def test_the_comparison_key_ignores_case_yo_punctuation_and_spacing():
    assert normalize_utterance("Ёлка,  ЁЖ!") == normalize_utterance("елка еж") == "елка еж"
    assert normalize_utterance("Привет!!!") == normalize_utterance("привет")
    assert normalize_utterance("? !") == "?!" and normalize_utterance("...") != normalize_utterance("?!"), (
        "text without words keeps its own form, so all such lines are not one"
    )


def test_drop_rules_keep_the_first_opening_and_drop_echoes_short_and_overlong_dialogues():
    dialogues = [
        ["- Привет!", "- Здравствуй."],
        ["привет", "Кто здесь?"],  # opens like the first, normalised
        ["Как дела?", "как дела"],  # a reply echoing what it answers
        ["Один"],  # too short
        ["\u200b", "А", "Б"],  # loses an invisible-only utterance, still two
        ["x" * 2001, "y"],  # too long
    ]
    table = clean_table(pa.table({"dialogue": dialogues}))
    assert table["dialogue"].to_pylist()[0] == ["Привет!", "Здравствуй."]
    assert table[INVISIBLE_ONLY].to_pylist() == [0, 0, 0, 0, 1, 0]
    kept, dropped = apply_drop_rules(table)
    assert kept.tolist() == [0, 4]
    assert dropped == {TOO_SHORT: 1, TOO_LONG: 1, SEEN_FIRST: 1, ECHO: 1}
    kept, dropped = apply_drop_rules(table, dedup=False)
    assert kept.tolist() == [0, 1, 2, 4] and dropped[SEEN_FIRST] == dropped[ECHO] == 0


def test_has_words_needs_a_letter_or_digit():
    assert [has_words(text) for text in ["", ".", ", …", "?!", "—", "__", "Да", "5", "ё"]] == [
        False, False, False, False, False, False, True, True, True
    ]


ADVERSARIAL = [
    "- При\x00вет", "\ufeff- Привет", "—  Ёлка,   ёж!", "\u200b\u200c\u200d", "- \u2060", "Tab\there\r\n", "…?!",
    "ＦＵＬＬ ｗｉｄｔｈ", "ﬁ ligature", "e\u0301 combining", "\x85next\x9fline", "a\u00a0b\u3000c", "- - двойное тире",
    "Ё-моё", "___", "", "   ", "\x1c\x1d\x1e\x1f", "123 456", "Ĳ", "²³",
]


def test_arrow_cleaning_matches_the_python_cleaning(corpus_slice):
    """The pipeline cleans a batch at a time in Arrow; the bot and the metrics clean one text in Python."""
    import pyarrow as pa

    from rugpt_chitchat.data.cleaning import clean_utterance, clean_utterances, normalize_utterance, normalize_utterances

    texts = [line for dialogue in corpus_slice for line in dialogue] + ADVERSARIAL
    cleaned = clean_utterances(pa.array(texts)).to_pylist()
    assert cleaned == [clean_utterance(text) for text in texts]
    assert normalize_utterances(pa.array(cleaned)).to_pylist() == [normalize_utterance(text) for text in cleaned]
    assert clean_utterance("\ufeff- При\x00вет\u200b") == "Привет"


def test_whitespace_class_is_pythons_less_the_invisible_characters():
    from rugpt_chitchat.data.cleaning import _INVISIBLE, _WHITESPACE

    def chars(ranges):
        return {chr(code) for a, b in ranges for code in range(a, b + 1)}

    python_space = {chr(code) for code in range(0x110000) if chr(code).isspace()}
    assert chars(_WHITESPACE) == python_space - chars(_INVISIBLE)
