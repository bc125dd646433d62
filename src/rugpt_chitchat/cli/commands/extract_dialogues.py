"""Books (.txt, .fb2, compressed or in zip archives) -> dialogues as `- реплика` text, JSONL or a datasets
directory, with one report row per book (kept, duplicate, other language, unreadable) beside the output."""

from __future__ import annotations

from ...books.extract import ExtractArguments

ARGUMENTS = (ExtractArguments,)
POSITIONAL = "books"


def run(args: ExtractArguments) -> None:
    from ...books.extract import extract_library

    print(extract_library(args).to_markdown())
