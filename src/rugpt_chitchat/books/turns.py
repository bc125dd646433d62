"""Dialogues from books: the paragraphs of Russian prose -> lists of spoken turns.

A turn is a paragraph that opens with a dash (—, – or -). The author's words inside it are
set off by a dash after punctuation (`— Нет, — сказал он. — Да.`) and are removed. Joining
rule: the spoken pieces are joined with a space, and a comma that closed a piece before the
author's words becomes a full stop unless the next piece goes on in lower case
(`— Нет, — сказал он. — Да.` -> `Нет. Да.`; `— Нет, — сказал он, — да.` -> `Нет, да.`).
Older editions leave out the second dash after `?`, `!` or `…` (`— Куда? спросил он.`): such a
remark is removed too when it unambiguously starts with a verb of speech and names who spoke.
A dialogue is a run of at least two consecutive turns; a narrative paragraph ends it, unless
`max_narrative` allows that many short ones (at most `narrative_max_chars`) between turns.
With `split_speakers`, a run is also cut where a third named speaker talks, or where a narrative
paragraph between turns names someone who has not spoken in it.
Every paragraph read is either a kept turn or counted in `BookReport.skipped` by reason.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

SKIP_REASONS = ("narrative", "notes", "lone_turn", "empty_turn", "long_turn")
_DASHES = "—–-"
_FOOTNOTE_MARK = re.compile(r"\s?\[\d+\]")
# A dash after punctuation, with a space after it, switches between speech and author's words; the
# punctuation is captured (it ends the piece before) rather than looked behind at: three times faster.
_AUTHOR_DASH = re.compile(r"([,.!?…:;])\s*[—–-]\s+")
_SPEECH_VERBS = (
    r"(?:сказал|спросил|отвечал|ответил|проговорил|промолвил|произн[её]сл?|крикнул|закричал|вскричал|"
    r"прокричал|воскликнул|вскрикнул|прошептал|шепнул|пробормотал|проворчал|возразил|подхватил|перебил|"
    r"прервал|прибавил|добавил|повторил|пролепетал|завопил|отозвал|раздал|послышал)(?:а|о|и)?(?:ся|сь)?"
)
# "? спросил Иван", "! раздалось несколько голосов": the verb, then a word that is not a particle
# ("сказала ли...", "сказал бы...", "сказал!" stay speech).
_DASHLESS_REMARK = re.compile(rf"[?!…]\s+(?={_SPEECH_VERBS}\s+(?!(?:ли|бы|б|же|ж)\b)\w)")
_NAME = r"[А-ЯЁ][а-яё]+(?:\s+[А-ЯЁ][а-яё]+)?"
# "сказал Иван", "тихо проговорила Анюта": at most one word before a verb-like word, then the name.
_SPEAKER_IN_REMARK = re.compile(rf"^(?:[а-яё]+\s+)?[а-яё]+(?:л|ла|ли|лся|лась|ет|ит|ёт)\s+({_NAME})")
# A name in the middle of a sentence (after a lower-case word or a comma), so not a capitalised first word.
_NAME_IN_NARRATIVE = re.compile(r"(?<=[а-яё,;:]\s)[А-ЯЁ][а-яё]{2,}")


@dataclass
class BookReport:
    """What one book gave: paragraphs read, turns kept, dialogues, and skipped paragraphs by reason."""

    name: str
    encoding: str = ""
    lang: str = ""
    title: str = ""
    author: str = ""
    paragraphs: int = 0
    turns: int = 0
    dialogues: int = 0
    control_chars: int = 0
    dashless_remarks: int = 0
    speaker_splits: int = 0
    skipped: Counter = field(default_factory=Counter)

    def as_row(self) -> dict:
        """Flat fields, one `skipped_<reason>` per reason: a row of the per-book CSV."""
        row = {name: getattr(self, name) for name in self.__dataclass_fields__ if name != "skipped"}
        return {**row, **{f"skipped_{reason}": self.skipped[reason] for reason in SKIP_REASONS}}


@dataclass(slots=True)
class Turn:
    """A turn paragraph read: the spoken words, the author's words, how many remarks had no dash."""

    speech: str
    remarks: list[str] = field(default_factory=list)
    dashless_remarks: int = 0

    @property
    def speaker(self) -> str:
        """Who spoke, when the author's words name them (`сказал Иван`), else ''."""
        return next((m.group(1) for m in map(_SPEAKER_IN_REMARK.match, self.remarks) if m), "")


def is_turn(paragraph: str) -> bool:
    """Opens with one dash (`—`, `–`, `-`; `--` is cleaned into `—` first)."""
    return paragraph[0] in _DASHES and (len(paragraph) == 1 or paragraph[1] not in _DASHES)


def clean_turn(text: str) -> str:
    """Turn paragraph with footnote marks (`[33]`) removed, `--` turned into a dash and spaces collapsed."""
    if "[" in text:
        text = _FOOTNOTE_MARK.sub("", text)
    if "--" in text:
        text = text.replace("--", "—")
    if "  " in text or "\t" in text or "\n" in text or "\xa0" in text:  # checking is cheaper than always splitting
        text = " ".join(text.split())
    return text


def read_turn(turn: str) -> Turn:
    """The spoken words of a cleaned turn paragraph (leading dash and author's words removed), and the author's."""
    has_dashless_remark = _DASHLESS_REMARK.search(turn) is not None
    if not has_dashless_remark and turn.find("— ", 1) < 0 and turn.find("– ", 1) < 0 and turn.find("- ", 1) < 0:
        return Turn(_join_speech([turn[1:]]))  # half the turns: no dash inside, speech only
    parts = _AUTHOR_DASH.split(turn[1:])  # text, punctuation, text, punctuation, ..., text
    texts = list(map(str.__add__, parts[::2], [*parts[1::2], ""]))  # each with the punctuation that closed it
    if not has_dashless_remark:  # nearly all the others: speech and author's words alternate
        return Turn(_join_speech(texts[::2]), texts[1::2])
    pieces, remarks, dashless = [], [], 0
    speaking = True
    for text in texts:
        remark = _DASHLESS_REMARK.search(text)
        if remark:  # speech up to `?`/`!`/`…` (even after a dash taken for the author's), the author's after
            pieces.append(text[: remark.start() + 1])
            remarks.append(text[remark.end():])
            dashless += 1
            speaking = True  # the next dash goes back to speech
            continue
        (pieces if speaking else remarks).append(text)
        speaking = not speaking
    return Turn(_join_speech(pieces), remarks, dashless)


def _join_speech(pieces: list[str]) -> str:
    """Spoken pieces joined by a space; a comma before the author's words becomes a full stop unless the
    next piece goes on in lower case."""
    pieces = [piece.strip() for piece in pieces]
    pieces = [piece for piece in pieces if piece]
    for i, piece in enumerate(pieces):
        if piece.endswith(",") and not (i + 1 < len(pieces) and pieces[i + 1][0].islower()):
            pieces[i] = piece[:-1] + "."
    return " ".join(pieces)


def spoken_words(turn: str) -> str:
    """The spoken words of a turn paragraph (leading dash and author's words removed)."""
    return read_turn(clean_turn(turn)).speech


def _same_person(name: str, other: str) -> bool:
    """Names match across case endings: `Анюта`/`Анюту`, `Фетисов`/`Фетисова`."""
    stem, other_stem = name[: max(3, len(name) - 2)], other[: max(3, len(other) - 2)]
    return name.startswith(other_stem) or other.startswith(stem)


def _is_new_person(name: str, speakers: list[str]) -> bool:
    return not any(_same_person(name.split()[0], speaker.split()[0]) for speaker in speakers)


def group_dialogues(
    paragraphs: list[str],
    report: BookReport,
    max_narrative: int = 0,
    narrative_max_chars: int = 200,
    max_turn_chars: int = 1000,
    split_speakers: bool = False,
) -> list[list[str]]:
    """Cut paragraphs (stripped, non-empty) into dialogues; counts turns, dialogues and skips into `report`."""
    dialogues: list[list[str]] = []
    run: list[str] = []
    speakers: list[str] = []  # named speakers of the run
    gap = 0  # short narrative paragraphs since the last turn of the run

    def close_run():
        nonlocal run, speakers, gap
        if len(run) >= 2:
            dialogues.append(run)
            report.turns += len(run)
        elif run:
            report.skipped["lone_turn"] += 1
        run, speakers, gap = [], [], 0

    for paragraph in paragraphs:
        cleaned = clean_turn(paragraph) if paragraph[0] in _DASHES else ""
        if not cleaned or not is_turn(cleaned):
            report.skipped["narrative"] += 1
            if run and gap < max_narrative and len(paragraph) <= narrative_max_chars:
                new_person = split_speakers and any(
                    _is_new_person(name, speakers) for name in _NAME_IN_NARRATIVE.findall(paragraph)
                )
                if not new_person:
                    gap += 1
                    continue
                report.speaker_splits += 1
            close_run()
            continue
        turn = read_turn(cleaned)
        report.dashless_remarks += turn.dashless_remarks
        reason = "empty_turn" if not turn.speech else "long_turn" if len(turn.speech) > max_turn_chars else None
        if reason:
            close_run()
            report.skipped[reason] += 1
            continue
        if split_speakers and turn.speaker and _is_new_person(turn.speaker, speakers):
            if len(speakers) >= 2:
                report.speaker_splits += 1
                close_run()
            speakers.append(turn.speaker)
        run.append(turn.speech)
        gap = 0
    close_run()
    report.dialogues = len(dialogues)
    return dialogues
