"""Ratings the bot collected with --feedback: `feedback report DB` prints the like-rate of each checkpoint with a
95 % interval; `feedback export DB OUT` saves them as a `datasets` dataset (prompt, reply, label, checkpoint)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...serving.bot.settings import BotSettings
from ...errors import DataError

ACTIONS = ("report", "export")


@dataclass
class FeedbackArguments:
    action: list[str] = field(
        default_factory=list,
        metadata={"help": "`report [DB]` or `export [DB] [OUT]`; DB and OUT may be given as --feedback_db and --output_dir."},
    )
    feedback_db: str = field(default=BotSettings.feedback_db, metadata={"help": "SQLite file the bot wrote (--feedback_db)."})
    output_dir: str | None = field(default=None, metadata={"help": "export: directory for the dataset (save_to_disk)."})
    overwrite: bool = field(
        default=False, metadata={"help": "export: replace a dataset already in the output directory (else refused)."}
    )


ARGUMENTS = (FeedbackArguments,)
POSITIONAL = "action"


def run(args: FeedbackArguments) -> None:
    from ...serving.bot.feedback import export_dataset, open_existing, report_markdown

    action, db, output_dir = resolve(args)
    rows = open_existing(db).rated()
    if action == "report":
        print(report_markdown(rows))
        return
    dataset = export_dataset(rows, output_dir, args.overwrite)
    print(f"{len(dataset)} rated replies ({sum(dataset['label'])} liked) saved to {output_dir}")


def resolve(args: FeedbackArguments) -> tuple[str, str, str | None]:
    """(action, database, output directory) from the bare words and the named fields."""
    words = list(args.action)
    if not words or words[0] not in ACTIONS or len(words) > 3:
        raise DataError("command line", "expected `feedback report [DB]` or `feedback export [DB] [OUT]`")
    action, db, output_dir = [*words, None, None][:3]
    output_dir = output_dir or args.output_dir
    if action == "export" and not output_dir:
        raise DataError("command line", "export needs the output directory: `feedback export DB OUT`")
    return action, db or args.feedback_db, output_dir
