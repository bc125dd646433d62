"""Does history help? The seed's baseline vs history with speaker types, and dedup on vs off.

    python experiments/history_ablation.py --output runs/ablation [--max-steps 1500] [--num-samples 300] \
        [--corpora FILE ...] [--runs baseline history ...] [-- --any_train_argument value ...]

Three tiny GPT-2 runs from `configs/tiny.yaml` on the real corpora, same tokenizer, same number of steps:
  baseline  question -> answer only: no history, no token_type_ids, no attention_mask, loss on everything;
  history   up to 3 utterances of history, speaker token_type_ids, loss on the reply;
  history-full-loss  as `history`, but the loss on every token, to tell the loss mask from the history;
  no-dedup  as `history`, trained on data without the two dedup rules.
All are evaluated on the same held-out dialogues (the dedup-on validation split; the split hashes each
dialogue's opening, so no validation dialogue is in any run's training data). Writes results.json,
results.md and ablation.png to --output.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
from pathlib import Path

import torch
from datasets import load_from_disk
from transformers import AutoTokenizer

from rugpt_chitchat.data.cleaning import clean_utterance
from rugpt_chitchat.errors import DataError, TrainingDiverged
from rugpt_chitchat.evaluation.report import generate_for_samples, reply_perplexity
from rugpt_chitchat.serving.generation import ChitChat
from rugpt_chitchat.evaluation.metrics import compute_generation_metrics
from rugpt_chitchat.data.readers import read_many
from rugpt_chitchat.data.samples import PipelineConfig, prepare_dataset
from rugpt_chitchat.tokenizer import train_tokenizer
from rugpt_chitchat.training.finetune import train

CORPORA = ["../shared/data/extract_dialogues_from_anekdots.txt.xz", "../shared/data/cornell_movie_corpus.txt.xz"]
RUNS = {
    "baseline": ["--max_history", "0", "--use_token_type_ids", "false", "--use_attention_mask", "false",
                 "--loss_on_reply_only", "false"],
    "history": [],
    "history-full-loss": ["--loss_on_reply_only", "false"],
    "no-dedup": [],
}
COLORS = {"baseline": "#999", "history": "#1f77b4", "history-full-loss": "#2ca02c", "no-dedup": "#ff7f0e"}  # same in every plot
_WORDS = re.compile(r"\w+")


def repeats_itself(reply: str) -> bool:
    """A word bigram that occurs twice in one reply: the looping users complain about."""
    words = _WORDS.findall(reply.lower())
    bigrams = list(zip(words, words[1:]))
    return len(bigrams) != len(set(bigrams))


def prepare(output: Path, corpora: list[str], tokenizer, dedup: bool, num_proc: int = 2) -> Path:
    directory = output / ("data" if dedup else "data-no-dedup")
    if not directory.exists():
        samples, summary = prepare_dataset(corpora, tokenizer, PipelineConfig(num_proc=num_proc, dedup=dedup))
        samples.save_to_disk(str(directory))
        (output / f"{directory.name}.md").write_text(summary.to_markdown() + "\n", encoding="utf-8")
    return directory


def evaluate_run(checkpoint: Path, validation, sample, contexts: list[list[str]], seed: int) -> dict:
    chat = ChitChat.from_pretrained(str(checkpoint))
    metrics = {f"reply_{k}": v for k, v in reply_perplexity(chat, validation).items()}
    torch.manual_seed(seed)
    histories, references, predictions, first_draws = generate_for_samples(chat, sample)
    metrics |= compute_generation_metrics(predictions, references, [h[-1] for h in histories], first_draws)
    metrics["repetition_rate"] = sum(map(repeats_itself, predictions)) / len(predictions)
    torch.manual_seed(seed)
    return {"metrics": metrics, "replies": chat.reply_batch(contexts)}


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = ["reply_perplexity", "bleu", "rougeL", "distinct_2", "echo_rate", "repetition_rate"]
    figure, axes = plt.subplots(1, len(shown), figsize=(3 * len(shown), 3.2))
    names = list(results)
    for axis, metric in zip(axes, shown):
        axis.bar(names, [results[name]["metrics"][metric] for name in names], color=[COLORS[name] for name in names])
        axis.set_title(metric)
        axis.set_ylim(bottom=0)
        axis.tick_params(axis="x", rotation=30)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default="runs/ablation")
    parser.add_argument("--max-steps", type=int, default=1500)
    parser.add_argument("--num-samples", type=int, default=300, help="validation samples answered for generation metrics")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--corpora", nargs="+", default=CORPORA, help="dialogue files (default: ../shared/data)")
    parser.add_argument("--runs", nargs="+", choices=list(RUNS), default=list(RUNS), help="which runs (default: all)")
    parser.add_argument("train_overrides", nargs="*", help="after --: passed to every `train` run, e.g. --use_cpu false")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)

    tokenizer_dir = output / "tokenizer"
    if not tokenizer_dir.exists():
        texts = (clean_utterance(u) for dialogue in read_many(args.corpora)["dialogue"] for u in dialogue)
        train_tokenizer(texts, tokenizer_dir, vocab_size=4000)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    data = {"dedup": prepare(output, args.corpora, tokenizer, dedup=True),
            "no-dedup": prepare(output, args.corpora, tokenizer, dedup=False)}

    validation = load_from_disk(str(data["dedup"]))["validation"]
    sample = validation.shuffle(seed=args.seed).select(range(min(args.num_samples, len(validation))))
    contexts = [[tokenizer.decode(ids) for ids in [*row["history"], row["input"]]] for row in sample.select(range(5))]

    results, failures = {}, {}
    for name in args.runs:
        extra, run_dir = RUNS[name], output / name
        try:
            if not (run_dir / "model.safetensors").exists():
                train([
                    "--config", "configs/tiny.yaml", "--tokenizer_name", str(tokenizer_dir), "--output_dir", str(run_dir),
                    "--data", str(data["no-dedup" if name == "no-dedup" else "dedup"]), "--max_steps", str(args.max_steps),
                    "--early_stopping_patience", "0", "--load_best_model_at_end", "false",
                    "--eval_steps", str(args.max_steps // 5), "--save_steps", str(args.max_steps // 5), *extra,
                    *args.train_overrides,
                ])
            results[name] = evaluate_run(run_dir, validation, sample, contexts, args.seed)
            print(name, json.dumps(results[name]["metrics"], ensure_ascii=False), flush=True)
        except (TrainingDiverged, DataError) as error:  # one diverged run must not cost the others
            failures[name] = str(error)
            print(name, "failed:", error, flush=True)
        write_results(output, contexts, results, failures)


def write_results(output: Path, contexts: list[list[str]], results: dict, failures: dict[str, str]) -> None:
    """results.json, results.md and ablation.png for the runs finished (or failed) so far."""
    summary = {"contexts": contexts, "runs": results, "failed": failures}
    (output / "results.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2))
    failed = [f"- **{name} failed**: {reason}" for name, reason in failures.items()]
    if not results:
        (output / "results.md").write_text("\n".join(failed) + "\n", encoding="utf-8")
        return
    plot(results, output / "ablation.png")
    names = list(results)
    lines = ["| metric | " + " | ".join(names) + " |", "| --- |" + " ---: |" * len(names)]
    for metric in results[names[0]]["metrics"]:
        lines.append(f"| {metric} | " + " | ".join(f"{results[n]['metrics'][metric]:.4g}" for n in names) + " |")
    for index, context in enumerate(contexts):
        lines += ["", f"**Context {index + 1}:** " + " / ".join(context)]
        lines += [f"- {name}: {results[name]['replies'][index]}" for name in names]
    (output / "results.md").write_text("\n".join(lines + ([""] + failed if failed else [])) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
