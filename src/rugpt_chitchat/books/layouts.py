"""How a book sets out its dialogue, and its text's stray letters.

Three layouts: `dash` (a turn is a paragraph opening with a dash), `play` (`Городничий. Текст`: a name,
a full stop, the speech, or a name and a stage direction: `Бобчинский (перебивая). Текст`; stage directions in brackets) and `quotes` (`«Врешь, врешь!»`, `«Я вашу милость...»,
отвечал Иван Яковлевич.`: speech in «», the author's words outside). The layout is the book's: a book is a
play when more of its paragraphs open with a name used that way again and again than with a dash.

Latin letters that look Cyrillic inside Cyrillic words (`Ваrbаri`, `Веnоnе`, `Jе`, `Пiдождить`) come from OCR
and hand-typed editions: a word is made all Cyrillic when its Latin letters all have a Cyrillic twin, else all
Latin when its Cyrillic letters do.
"""

from __future__ import annotations

import re
from collections import Counter

LAYOUTS = ("dash", "play", "quotes")
_DASHES = "—–-"
# `Городничий. Текст`, and with a stage direction: `Бобчинский (перебивая). Текст`, `(в сторону.) Текст`, `(пишет).Текст`
_CHORUS = {"все", "оба", "обе", "хор", "голоса", "гости", "несколько", "толпа", "народ"}
_PLAY_LINE = re.compile(r"([А-ЯЁ][а-яё]+(?: [А-ЯЁ][а-яё]+){0,2})(?:\. | \([^()]*\)\.? ?)(?=\S)")
_STAGE_DIRECTION = re.compile(r"\s*\([^)]*\)")
_ASIDE = re.compile(r"\([^()]*(?<![а-яё])(?:в сторону|к зрителям|про себя|один|одна)(?![а-яё])", re.IGNORECASE)  # `(В сторону.)` too
_STOP_AFTER_SENTENCE = re.compile(r"([!?…])\.(?=\s|$)")
_ALOUD = re.compile(r"\(Вслух[^)]*\)")
_QUOTED = re.compile(r"«([^«»]*)»")
_LATIN, _CYRILLIC = "aceopxyiABCEHKMOPTX", "асеорхуіАВСЕНКМОРТХ"
_TO_CYRILLIC, _TO_LATIN = str.maketrans(_LATIN, _CYRILLIC), str.maketrans(_CYRILLIC, _LATIN)
# a Latin letter beside a Cyrillic one: where a mixed word can be; opening with a character set, it is looked for
# at Latin letters only (`_MIXED_WORD`, opening with `\w*`, is tried at every character)
_MIXED_PAIR = re.compile(r"[a-zA-Z](?:(?<=[а-яёА-ЯЁ].)|(?=[а-яёА-ЯЁ]))")
_MIXED_WORD = re.compile(r"\w*(?:[a-zA-Z][а-яёА-ЯЁ]|[а-яёА-ЯЁ][a-zA-Z])\w*")


def book_layout(paragraphs: list[str]) -> str:
    """`play`, `quotes` or `dash`: whichever way more of the book's paragraphs open."""
    dashes = sum(1 for p in paragraphs if p[0] in _DASHES)
    names = Counter(m.group(1) for m in map(_PLAY_LINE.match, paragraphs) if m)
    play_lines = sum(count for count in names.values() if count >= 3)
    quotes = sum(1 for p in paragraphs if p[0] == "«")
    best = max((dashes, "dash"), (play_lines, "play"), (quotes, "quotes"))
    return best[1] if best[0] >= 3 else "dash"


def is_chorus(name: str) -> bool:
    """A play line said by several people at once (`Все. Что, что такое?`, `Оба`, `Несколько голосов`): none of
    the two speaking."""
    return name.split()[0].lower() in _CHORUS


def play_line(paragraph: str) -> tuple[str, str] | None:
    """(speaker, speech) of a play's line, stage directions removed; None for anything else. A line said aside
    or alone (`Городничий (в сторону).`) is nobody's turn but for what follows `(Вслух.)`; so is what follows an
    aside inside a line (`(говорит про себя.)`)."""
    match = _PLAY_LINE.match(paragraph)
    if not match:
        return None
    text = paragraph[match.end():]
    if _ASIDE.search(paragraph[: match.end()]):
        aloud = _ALOUD.search(text)
        text = text[aloud.end():] if aloud else ""
    aside = _ASIDE.search(text)
    while aside:  # `Я здесь напишу. (Пишет и в то же время говорит про себя.) А вот посмотрим...`: to `(Вслух.)`
        aloud = _ALOUD.search(text, aside.end())
        text = text[: aside.start()] + (text[aloud.end():] if aloud else "")
        aside = _ASIDE.search(text, aside.start())
    speech = _STOP_AFTER_SENTENCE.sub(r"\1", _STAGE_DIRECTION.sub("", text)).strip()  # `Чш! (...). Боже`: `Чш! Боже`
    return (match.group(1), speech) if speech else None


def quoted_pieces(paragraph: str) -> list[tuple[str, bool]] | None:
    """A paragraph opening with «...»: its pieces in order, (text, spoken); None when not one speaker's turn
    (two quotes with nothing but a dash between them are two speakers in one paragraph)."""
    pieces, last = [], 0
    for match in _QUOTED.finditer(paragraph):
        between = paragraph[last : match.start()].strip(" ,—–-")
        if last and not between:
            return None
        if between:
            pieces.append((between, False))
        pieces.append((match.group(1), True))
        last = match.end()
    rest = paragraph[last:].strip(" ,—–-")
    if rest:
        pieces.append((rest, False))
    return pieces if pieces and pieces[0][1] else None


def _one_script(match: re.Match) -> str:
    word = match.group()
    latin = {c for c in word if c.isascii() and c.isalpha()}
    if latin <= set(_LATIN):
        return word.translate(_TO_CYRILLIC)
    if {c for c in word if not c.isascii() and c.isalpha()} <= set(_CYRILLIC):
        return word.translate(_TO_LATIN)
    return word


def fix_lookalikes(text: str) -> tuple[str, int]:
    """Text with each word mixing Latin and Cyrillic letters made one script, and how many words changed."""
    if not _MIXED_PAIR.search(text):
        return text, 0
    changed = 0

    def one_script(match: re.Match) -> str:
        nonlocal changed
        word = _one_script(match)
        changed += word != match.group()
        return word

    return _MIXED_WORD.sub(one_script, text), changed


def stage_directions(paragraph: str) -> str:
    """A play line's stage directions, joined: who comes in or is spoken to (`подслушивавший Бобчинский летит`)."""
    return " ".join(_STAGE_DIRECTION.findall(paragraph))
