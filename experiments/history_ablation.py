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
from pathlib import Path

from common import COLORS, CORPORA, VARIANTS, command_line_overrides, evaluate_run, fine_tune, fixed_contexts, prepare
from datasets import load_from_disk
from transformers import AutoTokenizer

from rugpt_chitchat.data.cleaning import clean_utterance
from rugpt_chitchat.data.readers import read_many
from rugpt_chitchat.errors import DataError, TrainingDiverged
from rugpt_chitchat.tokenizer import train_tokenizer
from rugpt_chitchat.training.finetune import ARGUMENT_CLASSES

RUNS = {**VARIANTS, "no-dedup": VARIANTS["history"]}  # no-dedup: the history run on data without the dedup rules


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
    contexts = fixed_contexts(validation, tokenizer, args.seed, args.num_samples)
    overrides = command_line_overrides(args.train_overrides, ARGUMENT_CLASSES)

    results, failures = {}, {}
    for name in args.runs:
        run_dir = output / name
        try:
            if not (run_dir / "model.safetensors").exists():
                fine_tune(
                    "configs/tiny.yaml", **RUNS[name], tokenizer_name=str(tokenizer_dir), output_dir=str(run_dir),
                    data=[str(data["no-dedup" if name == "no-dedup" else "dedup"])], max_steps=args.max_steps,
                    eval_steps=args.max_steps // 5, save_steps=args.max_steps // 5, **overrides,
                )
            results[name] = evaluate_run(run_dir, data["dedup"], contexts, args.seed, num_samples=args.num_samples,
                                         probe_samples=0)
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
