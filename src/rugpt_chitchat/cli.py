"""`rugpt-chitchat` command line: each subcommand turns its arguments into one library call."""

from __future__ import annotations

import argparse
import logging
import sys

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


def _rate_limit(text: str) -> tuple[int, float] | None:
    """'20/60' -> (20, 60.0) messages per seconds; 'off' -> None."""
    if text == "off":
        return None
    messages, _, seconds = text.partition("/")
    try:
        return int(messages), float(seconds)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MESSAGES/SECONDS such as 20/60, or 'off'; got {text!r}") from None


def _bot(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="rugpt-chitchat bot",
        description="Serve a checkpoint as a Telegram bot. The token comes from TELEGRAM_BOT_TOKEN or --token-file.",
    )
    parser.add_argument("--checkpoint", required=True, help="checkpoint directory")
    parser.add_argument("--device", default=None)
    parser.add_argument("--token-file", default=None, help="file holding the bot token (instead of TELEGRAM_BOT_TOKEN)")
    parser.add_argument("--api-server", default=None, help="base URL of a self-hosted Bot API server")
    parser.add_argument("--redis", default=None, help="redis:// URL: keep chat histories in Redis instead of memory")
    parser.add_argument("--webhook-url", default=None, help="public URL for Telegram to post updates to (default: long polling)")
    parser.add_argument("--webhook-host", default="0.0.0.0")
    parser.add_argument("--webhook-port", type=int, default=8080)
    parser.add_argument("--allow-user", type=int, action="append", default=[], help="user id allowed to chat (repeat); default: everyone")
    parser.add_argument("--max-batch-size", type=int, default=16, help="most chats answered by one generate call")
    parser.add_argument("--max-wait-ms", type=float, default=50.0, help="how long a request waits for others to batch with")
    parser.add_argument("--rate-limit", type=_rate_limit, default="20/60", help="MESSAGES/SECONDS per chat, or 'off'")
    args = parser.parse_args(argv)

    from .bot import BotSettings, read_token, run
    from .generation import ChitChat

    settings = BotSettings(
        token=read_token(args.token_file),
        api_server=args.api_server,
        redis_url=args.redis,
        webhook_url=args.webhook_url,
        webhook_host=args.webhook_host,
        webhook_port=args.webhook_port,
        allowed_user_ids=tuple(args.allow_user),
        max_batch_size=args.max_batch_size,
        max_wait_ms=args.max_wait_ms,
        rate_limit=args.rate_limit,
    )
    run(ChitChat.from_pretrained(args.checkpoint, device=args.device), settings)


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
        sys.exit(2)


if __name__ == "__main__":
    main()
