"""`rugpt-chitchat` command line: each subcommand turns its arguments into one library call."""

from __future__ import annotations

import argparse
import itertools
import logging
import sys
from dataclasses import dataclass, field

from .errors import DataError, TrainingDiverged


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


def _extract_dialogues(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="rugpt-chitchat extract-dialogues", description="Books (.txt, .fb2) -> dialogues.")
    parser.add_argument("books", nargs="+", help="book files or directories (searched recursively for .txt and .fb2)")
    parser.add_argument("--output", required=True, help="dialogue file: .jsonl, else the `- реплика` text format")
    parser.add_argument("--max-narrative", type=int, default=0, help="short narrative paragraphs allowed between two turns")
    args = parser.parse_args(argv)

    from .books import extract_dialogues, reports_to_markdown, write_dialogues

    dialogues, reports = extract_dialogues(args.books, args.max_narrative, progress=True)
    write_dialogues(dialogues, args.output)
    print(reports_to_markdown(reports))
    print(f"\n{len(dialogues)} dialogues from {len(reports)} books saved to {args.output}")


def _evaluate(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="rugpt-chitchat evaluate", description="Checkpoint -> metrics on the validation split.")
    parser.add_argument("--checkpoint", required=True, help="checkpoint directory (model, tokenizer, dialogue_format.json)")
    parser.add_argument("--data", nargs="+", required=True, help="a preprocessed directory (save_to_disk) or dialogue files")
    parser.add_argument("--num-samples", type=int, default=200, help="validation samples answered for generation metrics")
    parser.add_argument("--max-eval-samples", type=int, default=None, help="score perplexity on the first N validation samples (default: all)")
    parser.add_argument("--output", default=None, help="directory for metrics.json, metrics.md, learning_curve.png")
    parser.add_argument("--validation-size", type=float, default=0.05, help="as in preprocess, when --data are dialogue files")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--device", default=None)
    args = parser.parse_args(argv)

    from .evaluation import evaluate_checkpoint, write_report

    report = evaluate_checkpoint(
        args.checkpoint, args.data, args.num_samples, args.seed, args.validation_size, args.device, args.max_eval_samples
    )
    written = write_report(report, args.checkpoint, args.output or f"{args.checkpoint.rstrip('/')}/evaluation")
    print(report.to_markdown())
    print("Wrote " + ", ".join(map(str, written)))


def _chat(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="rugpt-chitchat chat", description="Talk to a checkpoint in the terminal.")
    parser.add_argument("--checkpoint", required=True, help="checkpoint directory")
    parser.add_argument("--device", default=None)
    args = parser.parse_args(argv)

    from .format import last_utterances
    from .generation import ChitChat

    chat = ChitChat.from_pretrained(args.checkpoint, device=args.device)
    print("Write a message; /reset starts a new dialogue, /quit (or end of input) leaves.")
    history: list[str] = []
    while True:
        try:
            text = input("> ").strip()
        except EOFError:
            break
        if text == "/quit":
            break
        if text == "/reset":
            history = []
            print("(new dialogue)")
            continue
        if text:
            history.append(chat.truncate_utterance(text))
            answer = chat.reply(history)
            print(f"bot: {answer}", flush=True)
            history = last_utterances([*history, answer], chat.max_history)  # what the next prompt can read


def _bot(argv: list[str]) -> None:
    """`rugpt-chitchat bot --checkpoint DIR [DIR ...] [--config bot.yaml] [--any_setting value ...]`.

    A user's mistake (bad arguments, no token, a rejected token, an unreachable Bot API) is one line on
    stderr and exit status 2; the token is never printed.
    """
    from .bot import BotSettings, BotStartError, ServeArguments, read_token, run
    from .config import parse_config

    try:
        serve_args, settings = parse_config(
            argv, (ServeArguments, BotSettings), prog="rugpt-chitchat bot",
            description="Serve checkpoints as a Telegram bot. The token comes from TELEGRAM_BOT_TOKEN or --token_file.",
        )
        if not serve_args.checkpoint:
            raise DataError("command line", "give the model to serve: --checkpoint DIR (several for an A/B test)")
        token = read_token(serve_args.token_file)
        chitchats = _load_checkpoints(serve_args.checkpoint, serve_args.device)
        run(chitchats, settings, token)
    except (DataError, ValueError, BotStartError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except RuntimeError as error:  # logged with its traceback (token redacted) by `run`
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)


def _load_checkpoints(paths: list[str], device: str | None) -> dict:
    """{path: ChitChat} for the bot; a missing or unreadable checkpoint is a DataError naming it."""
    from .generation import ChitChat

    chitchats = {}
    for path in paths:
        try:
            chitchats[path] = ChitChat.from_pretrained(path, device=device)
        except OSError as error:
            raise DataError(path, f"cannot load the checkpoint: {error}") from None
    return chitchats


def _feedback(argv: list[str]) -> None:
    """`rugpt-chitchat feedback report DB` | `feedback export DB OUT` (or --feedback_db DB --output_dir OUT)."""
    from .bot.feedback import export_dataset, open_existing, report_markdown
    from .config import parse_config

    actions = ("report", "export")
    if not argv or argv[0] not in actions:
        print("usage: rugpt-chitchat feedback {report DB | export DB OUT} (see `feedback report --help`)", file=sys.stderr)
        sys.exit(0 if argv and argv[0] in {"-h", "--help"} else 2)
    action, rest = argv[0], argv[1:]
    positional = list(itertools.takewhile(lambda arg: not arg.startswith("-"), rest))
    named = [f"--{name}" for name in ("feedback_db", "output_dir")]
    rest = [*itertools.chain.from_iterable(zip(named, positional)), *rest[len(positional):]]
    try:
        (args,) = parse_config(rest, (FeedbackArguments,), prog=f"rugpt-chitchat feedback {action}")
        rows = open_existing(args.feedback_db).rated()
        if action == "report":
            print(report_markdown(rows))
            return
        if not args.output_dir:
            raise DataError("command line", "export needs the output directory: feedback export DB OUT")
        dataset = export_dataset(rows, args.output_dir)
        print(f"{len(dataset)} rated replies ({sum(dataset['label'])} liked) saved to {args.output_dir}")
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


@dataclass
class FeedbackArguments:
    feedback_db: str = field(default="feedback.sqlite3", metadata={"help": "SQLite file the bot wrote with --feedback."})
    output_dir: str | None = field(default=None, metadata={"help": "export: directory for the dataset (save_to_disk)."})


SAMPLE_HISTORIES = [["Привет! Как дела?"], ["Ты кто такой?"], ["Куда ты идёшь?", "Домой.", "А что так рано?"]]


def _train(argv: list[str]) -> None:
    """`rugpt-chitchat train --config configs/tiny.yaml [--any_field value ...]`; see `--help` for the fields."""
    from accelerate import PartialState

    from .generation import ChitChat
    from .training import train

    outcome = train(argv)
    if not PartialState().is_main_process:
        return
    print(f"\nValidation reply perplexity: {outcome.perplexity_before:.1f} before, {outcome.perplexity_after:.1f} after "
          f"{outcome.global_step} steps. Model saved to {outcome.output_dir}")
    chitchat = ChitChat.from_pretrained(outcome.output_dir)
    for history in SAMPLE_HISTORIES:
        print(f"  {' / '.join(history)}  ->  {chitchat.reply(history)}")


COMMANDS = {
    "preprocess": _preprocess,
    "train": _train,
    "extract-dialogues": _extract_dialogues,
    "evaluate": _evaluate,
    "chat": _chat,
    "bot": _bot,
    "feedback": _feedback,
}


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in {"-h", "--help"} or argv[0] not in COMMANDS:
        print("usage: rugpt-chitchat {" + ",".join(COMMANDS) + "} ...", file=sys.stderr)
        sys.exit(0 if argv and argv[0] in {"-h", "--help"} else 2)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        COMMANDS[argv[0]](argv[1:])
    except (DataError, TrainingDiverged) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
