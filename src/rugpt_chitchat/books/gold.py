"""The gold set of book dialogues and its scorer: how close extraction comes to what a reader would write.

`tests/data/books_gold.jsonl` holds excerpts of the shared books, one a line: the book (a path under the
books folder), a paragraph range `[start, end)` of `read_book(...).paragraphs`, its `kind`, and one entry per
paragraph: `null` for narration (and for a crowd's line: `Все. Что, что такое?`), else `{"who": the person speaking, "speech": the spoken words}` as read by
a person (`"answers": false` where the turn is not said to the one before, `говорил между тем`; `"closes": true`
where the author's words end the paragraph, `Паншин немного нахмурился.`, as a paragraph of narration). The expected
dialogues follow from those by the rule of `turns.group_dialogues`: consecutive turns, cut at narration, where
a third person speaks, where the same person would speak twice in a row, or at a turn that answers no one;
runs of at least two turns.

Scores: excerpts exactly right (same dialogues, same words in each turn: punctuation is not scored), speech
words' precision and recall (word multisets), dialogues holding a third person or one person twice in a row,
and turns with words that are not the speaker's (the author's words leaked).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .library import BookRef, read_book
from .turns import BookReport, book_layout, group_dialogues

_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    """Lower-case words, `ё` read as `е`: what the scores compare."""
    return _WORD.findall(text.lower().replace("ё", "е"))


@dataclass
class Excerpt:
    book: str
    start: int
    end: int
    kind: str
    turns: list[dict | None]

    def expected(self) -> list[list[dict]]:
        """The dialogues a reader expects: runs of turns cut at narration, a third person or a repeated one."""
        dialogues, run = [], []
        for turn in self.turns + [None]:
            people = [t["who"] for t in run]
            if turn is None or (run and (turn["who"] == people[-1] or turn.get("answers") is False or run[-1].get("closes")
                                         or (turn["who"] not in people and len(set(people)) >= 2))):
                if len(run) >= 2:
                    dialogues.append(run)
                run = []
            if turn is not None:
                run.append(turn)
        return dialogues


def load_gold(path: str | Path) -> list[Excerpt]:
    excerpts = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        start, end = record["paragraphs"]
        excerpts.append(Excerpt(record["book"], start, end, record["kind"], record["turns"]))
    return excerpts


@dataclass
class GoldScores:
    excerpts: int = 0
    exact: int = 0
    true_words: int = 0
    found_words: int = 0
    gold_words: int = 0
    dialogues: int = 0
    third_speaker: int = 0
    same_speaker_twice: int = 0
    leaked_turns: int = 0
    wrong: dict = field(default_factory=dict)  # kind -> excerpts not exactly right

    @property
    def precision(self) -> float:
        return self.true_words / max(self.found_words, 1)

    @property
    def recall(self) -> float:
        return self.true_words / max(self.gold_words, 1)

    def to_markdown(self) -> str:
        wrong = ", ".join(f"{kind} {count}" for kind, count in sorted(self.wrong.items())) or "none"
        return "\n".join([
            "| excerpts | exactly right | speech-word precision | recall | dialogues | third speaker inside "
            "| same speaker twice | turns with author's words |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            f"| {self.excerpts} | {self.exact} ({self.exact / max(self.excerpts, 1):.0%}) | {self.precision:.3f} "
            f"| {self.recall:.3f} | {self.dialogues} | {self.third_speaker} | {self.same_speaker_twice} | {self.leaked_turns} |",
            f"\nNot exactly right, by kind: {wrong}",
        ])  # fmt: skip


def _match(turn: str, gold_turns: list[dict]) -> dict | None:
    """The gold turn sharing most words with an extracted one, and of those the one with fewest words besides
    (`Какого приказанья?` is that line, not a longer one ending with the same words)."""
    found = Counter(words(turn))
    overlap, _, best = max(((sum((found & (wanted := Counter(words(g["speech"])))).values()),
                             -sum((wanted - found).values()), i) for i, g in enumerate(gold_turns)), default=(0, 0, -1))  # fmt: skip
    return gold_turns[best] if overlap else None


def score_excerpt(excerpt: Excerpt, dialogues: list[list[str]], scores: GoldScores) -> bool:
    """Adds one excerpt's extracted dialogues to `scores`; True when exactly right."""
    expected = excerpt.expected()
    gold_turns = [turn for turn in excerpt.turns if turn]
    exact = [[words(t) for t in d] for d in dialogues] == [[words(t["speech"]) for t in d] for d in expected]
    found = Counter(w for d in dialogues for t in d for w in words(t))
    wanted = Counter(w for d in expected for t in d for w in words(t["speech"]))
    scores.excerpts += 1
    scores.exact += exact
    scores.true_words += sum((found & wanted).values())
    scores.found_words += sum(found.values())
    scores.gold_words += sum(wanted.values())
    scores.dialogues += len(dialogues)
    for dialogue in dialogues:
        matched = [_match(turn, gold_turns) for turn in dialogue]
        people = [m["who"] for m in matched if m]
        scores.third_speaker += len(set(people)) >= 3
        scores.same_speaker_twice += any(a == b for a, b in zip(people, people[1:]))
        scores.leaked_turns += sum(
            bool(Counter(words(turn)) - Counter(words(m["speech"]) if m else [])) for turn, m in zip(dialogue, matched)
        )
    if not exact:
        scores.wrong[excerpt.kind] = scores.wrong.get(excerpt.kind, 0) + 1
    return exact


def extract_excerpt(paragraphs: list[str], excerpt: Excerpt, **rules) -> list[list[str]]:
    """The dialogues extraction finds in the excerpt's paragraphs, read with the layout of the whole book.

    Long turns are scored too (`max_turn_chars` is a limit for training, not a reading of the book)."""
    rules = {"max_turn_chars": 1_000_000, **rules}
    report = BookReport(excerpt.book)
    found = group_dialogues(paragraphs[excerpt.start : excerpt.end], report, layout=book_layout(paragraphs), **rules)
    return [dialogue.turns for dialogue in found]


def score_gold(gold: list[Excerpt], books_dir: str | Path, **rules) -> tuple[GoldScores, list[tuple[Excerpt, list]]]:
    """Scores of extraction on every excerpt, and the excerpts not exactly right with what came out."""
    scores, misses, books = GoldScores(), [], {}
    for excerpt in gold:
        if excerpt.book not in books:
            books[excerpt.book] = read_book(BookRef(str(Path(books_dir) / excerpt.book))).paragraphs
        dialogues = extract_excerpt(books[excerpt.book], excerpt, **rules)
        if not score_excerpt(excerpt, dialogues, scores):
            misses.append((excerpt, dialogues))
    return scores, misses
