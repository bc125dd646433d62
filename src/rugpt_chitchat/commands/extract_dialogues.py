"""Books (.txt, .fb2) -> dialogues, as JSONL or the `- реплика` text format, with a report per book."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ExtractArguments:
    books: list[str] = field(metadata={"help": "Book files or directories (searched recursively for .txt and .fb2); "
                                       "may also be given first, without --books."})
    output_file: str = field(metadata={"help": "Dialogue file: .jsonl, else the `- реплика` text format.",
                                       "aliases": ["--output"]})
    max_narrative: int = field(default=0, metadata={"help": "Short narrative paragraphs allowed between two turns."})


ARGUMENTS = (ExtractArguments,)
POSITIONAL = "books"


def run(args: ExtractArguments) -> None:
    from ..books import extract_dialogues, reports_to_markdown, write_dialogues

    dialogues, reports = extract_dialogues(args.books, args.max_narrative, progress=True)
    write_dialogues(dialogues, args.output_file)
    print(reports_to_markdown(reports))
    print(f"\n{len(dialogues)} dialogues from {len(reports)} books saved to {args.output_file}")
