"""Ratings from real users: every rated reply stored with what the model saw, then reported and exported.

With `--feedback` the bot writes each reply it sends (chat, message id, checkpoint, the history the model
saw, the reply, the time) to an SQLite file, and a 👍/👎 press adds the rating to it. `report` gives the
like-rate of each checkpoint with a 95 % Wilson interval; `export` writes a `datasets` dataset of
(prompt, reply, label) rows, the unpaired preference format of KTO-style training.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ...errors import DataError

SCHEMA = """
CREATE TABLE IF NOT EXISTS replies (
    bot_id INTEGER NOT NULL,     -- the bot's user id (getMe): bots sharing one file keep their own message ids
    chat_id INTEGER NOT NULL,
    message_id INTEGER NOT NULL,
    checkpoint TEXT NOT NULL,
    history TEXT NOT NULL,       -- JSON list of the utterances the model saw, the user's last
    reply TEXT NOT NULL,
    sent_at REAL NOT NULL,
    label INTEGER,               -- 1: 👍, 0: 👎, NULL: not rated
    rated_by INTEGER,
    rated_at REAL,
    PRIMARY KEY (bot_id, chat_id, message_id)
)
"""
COLUMNS = ("bot_id", "chat_id", "message_id", "checkpoint", "history", "reply", "sent_at", "label", "rated_by", "rated_at")
READ_COLUMNS = ("chat_id", "checkpoint", "history", "reply", "label", "rated_at")  # what report and export need
UNKNOWN_BOT = 0  # the bot_id of rows written before ratings carried it
Z_95 = 1.959963984540054
HINT = "the bot writes one with --feedback --feedback_db PATH"

logger = logging.getLogger(__name__)


class FeedbackStore:
    """The SQLite file of replies and ratings; safe to call from worker threads (one connection, one lock).

    The bot opens it to write (creating it, or adding `bot_id` to a file written before ratings carried it);
    `read_only=True` (report, export) opens an existing file as it is and never changes it.
    """

    def __init__(self, path: str | Path, read_only: bool = False):
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            if read_only:
                self._db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
                self._check(READ_COLUMNS)
            else:
                self._db = sqlite3.connect(self.path, check_same_thread=False)
                tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                if tables and "replies" not in tables:  # another application's file: left as it is
                    self._db.close()
                    raise DataError(self.path, f"not a feedback database: it has no table `replies` ({HINT})")
                self._db.execute("PRAGMA journal_mode=WAL")  # `feedback report` may read while the bot writes
                self._db.execute(SCHEMA)
                self._migrate()
                self._check(COLUMNS)
        except sqlite3.DatabaseError as error:
            raise DataError(self.path, f"not a feedback database ({error}; {HINT})") from None

    def _columns(self) -> list[str]:
        return [row[1] for row in self._db.execute("PRAGMA table_info(replies)")]

    def _check(self, needed: tuple[str, ...]) -> None:
        columns = self._columns()
        if not columns:
            raise DataError(self.path, f"not a feedback database: it has no table `replies` ({HINT})")
        missing = [column for column in needed if column not in columns]
        if missing:
            raise DataError(self.path, f"not a feedback database: table `replies` lacks the column(s) {', '.join(missing)}")

    def _migrate(self) -> None:
        """A file from before ratings carried the bot's id: its rows are kept, with bot_id 0 (unknown)."""
        old = self._columns()
        if "bot_id" in old or not set(COLUMNS[1:]) <= set(old):
            return
        with self._db:
            self._db.execute("ALTER TABLE replies RENAME TO replies_without_bot_id")
            self._db.execute(SCHEMA)
            copied = ", ".join(COLUMNS[1:])
            self._db.execute(f"INSERT OR REPLACE INTO replies (bot_id, {copied}) SELECT {UNKNOWN_BOT}, {copied} FROM replies_without_bot_id")
            self._db.execute("DROP TABLE replies_without_bot_id")
        logger.info("%s: replies now keyed by the bot's id too; the earlier ones have bot_id %d", self.path, UNKNOWN_BOT)

    def add_reply(
        self, bot_id: int, chat_id: int, message_id: int, checkpoint: str, history: list[str], reply: str
    ) -> None:
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO replies (bot_id, chat_id, message_id, checkpoint, history, reply, sent_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (bot_id, chat_id, message_id, checkpoint, json.dumps(history, ensure_ascii=False), reply, time.time()),
            )

    def rate(self, bot_id: int, chat_id: int, message_id: int, liked: bool, user_id: int | None) -> bool:
        """Stores a press; False when the reply is unknown to this bot (sent before --feedback, or by another bot)."""
        with self._lock, self._db:
            cursor = self._db.execute(
                "UPDATE replies SET label = ?, rated_by = ?, rated_at = ? WHERE bot_id = ? AND chat_id = ? AND message_id = ?",
                (int(liked), user_id, time.time(), bot_id, chat_id, message_id),
            )
        return cursor.rowcount == 1

    def rated(self) -> list[dict]:
        """Every rated reply, oldest first: chat_id, checkpoint, history (list), reply, label (bool), rated_at.

        DataError names the first row whose label is not 0 or 1 or whose history is not a JSON list of texts.
        """
        with self._lock:
            rows = self._db.execute(
                "SELECT rowid, chat_id, checkpoint, history, reply, label, rated_at FROM replies "
                "WHERE label IS NOT NULL ORDER BY rated_at"
            ).fetchall()
        return [self._row(*row) for row in rows]

    def _row(self, rowid: int, chat: int, checkpoint: str, history: str, reply: str, label, rated_at: float) -> dict:
        where = f"{self.path}: table replies, rowid {rowid}"
        if type(label) is not int or label not in (0, 1):
            raise DataError(where, f"label {label!r} is neither 1 (👍) nor 0 (👎)")
        try:
            utterances = json.loads(history)
        except (TypeError, ValueError):
            utterances = None
        if not isinstance(utterances, list) or not all(isinstance(text, str) for text in utterances):
            raise DataError(where, f"history {history!r:.80} is not a JSON list of texts")
        return {"chat_id": chat, "checkpoint": checkpoint, "history": utterances, "reply": reply,
                "label": bool(label), "rated_at": rated_at}

    def close(self) -> None:
        with self._lock:
            self._db.close()


def open_existing(path: str | Path) -> FeedbackStore:
    """The store at `path`, read-only; it must exist and be a feedback database (`report` and `export` change nothing)."""
    if not Path(path).is_file():
        raise DataError(path, f"feedback database not found ({HINT})")
    if Path(path).stat().st_size == 0:
        raise DataError(path, f"empty file: not a feedback database ({HINT})")
    return FeedbackStore(path, read_only=True)


def wilson_interval(likes: int, total: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a proportion: sound for small counts and rates near 0 or 1."""
    if total == 0:
        return 0.0, 1.0
    rate = likes / total
    centre = (rate + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(rate * (1 - rate) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class CheckpointRating:
    checkpoint: str
    likes: int
    total: int

    @property
    def rate(self) -> float:
        return self.likes / self.total

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.likes, self.total)


def ratings_by_checkpoint(rows: list[dict]) -> list[CheckpointRating]:
    counts: dict[str, list[int]] = {}
    for row in rows:
        likes_total = counts.setdefault(row["checkpoint"], [0, 0])
        likes_total[0] += row["label"]
        likes_total[1] += 1
    return [CheckpointRating(name, likes, total) for name, (likes, total) in sorted(counts.items())]


def difference_interval(a: CheckpointRating, b: CheckpointRating) -> tuple[float, float, float]:
    """a.rate - b.rate with Newcombe's 95 % interval (built from the two Wilson intervals)."""
    (a_low, a_high), (b_low, b_high) = a.interval, b.interval
    difference = a.rate - b.rate
    low = difference - math.hypot(a.rate - a_low, b_high - b.rate)
    high = difference + math.hypot(a_high - a.rate, b.rate - b_low)
    return difference, low, high


def report_markdown(rows: list[dict]) -> str:
    """Like-rate per checkpoint with 95 % intervals; with several, each compared with the first by name."""
    ratings = ratings_by_checkpoint(rows)
    if not ratings:
        return "No ratings yet."
    lines = ["| checkpoint | ratings | 👍 | like-rate | 95 % interval |", "| --- | ---: | ---: | ---: | --- |"]
    for rating in ratings:
        low, high = rating.interval
        lines.append(f"| {rating.checkpoint} | {rating.total} | {rating.likes} | {rating.rate:.1%} | {low:.1%} – {high:.1%} |")
    baseline = ratings[0]
    for rating in ratings[1:]:
        difference, low, high = difference_interval(rating, baseline)
        verdict = "better" if low > 0 else "worse" if high < 0 else "no clear difference"
        lines.append(f"\n{rating.checkpoint} vs {baseline.checkpoint}: {difference:+.1%} (95 % interval "
                     f"{low:+.1%} to {high:+.1%}): {verdict}")
    return "\n".join(lines)


def export_dataset(rows: list[dict], output_dir: str | Path, overwrite: bool = False):
    """A `datasets.Dataset` of prompt (the utterances the model saw), reply, label (True: 👍), checkpoint, saved.

    A non-empty `output_dir` is refused, unless `overwrite` and it holds a dataset saved before (whose files
    are then all removed, so no old shard is left beside the new ones).
    """
    from datasets import Dataset

    if not rows:
        raise DataError(output_dir, "no rated replies to export")
    output = Path(output_dir)
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        if not overwrite:
            raise DataError(output, "not empty; choose another directory or pass --overwrite to replace the dataset there")
        if not (output / "state.json").is_file():
            raise DataError(output, "not a dataset saved by `feedback export`; --overwrite only replaces one of those")
        shutil.rmtree(output)
    columns = {
        "prompt": [row["history"] for row in rows],
        "reply": [row["reply"] for row in rows],
        "label": [row["label"] for row in rows],
        "checkpoint": [row["checkpoint"] for row in rows],
    }
    dataset = Dataset.from_dict(columns)
    dataset.save_to_disk(str(output))
    return dataset
