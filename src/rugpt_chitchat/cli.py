"""`rugpt-chitchat` command line: each subcommand turns its arguments into one library call."""

from __future__ import annotations

import argparse
import logging
import sys

from .errors import DataError


def _preprocess(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="rugpt-chitchat preprocess", description="Dialogues -> tokenised samples on disk.")
    parser.add_argument("--data", nargs="+", required=True, help="dialogue files (.pkl, .txt[.xz|.gz|.bz2], .jsonl) or a Hub dataset name")
    parser.add_argument("--tokenizer", required=True, help="tokenizer name on the Hub or a local directory")
    parser.add_argument("--output", required=True, help="directory for the DatasetDict (save_to_disk)")
    parser.add_argument("--max-history", type=int, default=3)
    parser.add_argument("--num-proc", type=int, default=None)
    parser.add_argument("--validation-size", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)

    from transformers import AutoTokenizer

    from .samples import PipelineConfig, prepare_dataset

    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    config = PipelineConfig(
        max_history=args.max_history,
        validation_size=args.validation_size,
        seed=args.seed,
        num_proc=args.num_proc,
    )
    dataset, summary = prepare_dataset(args.data, tokenizer, config)
    dataset.save_to_disk(args.output)
    print(summary.to_markdown())
    print(f"\nSaved to {args.output}")


COMMANDS = {
    "preprocess": _preprocess,
}


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in {"-h", "--help"} or argv[0] not in COMMANDS:
        print("usage: rugpt-chitchat {" + ",".join(COMMANDS) + "} ...", file=sys.stderr)
        sys.exit(0 if argv and argv[0] in {"-h", "--help"} else 2)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        COMMANDS[argv[0]](argv[1:])
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
