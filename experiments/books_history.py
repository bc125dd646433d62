"""Does history help a *pretrained* model? The seed's experiment redone from one base pretrained on books.

    python experiments/books_history.py --output runs/books-history --books ../shared/data/books \
        [--corpora FILE ...] [--time-budget MINUTES] [--seeds 0 1 2] [--steps 300] [size knobs, see --help] \
        [-- --use_cpu false --bf16 true ...]     # after --: TrainingArguments for every pretrain and train run

Stages, in this order; a run whose predicted time no longer fits --time-budget is skipped and listed:
  base     a byte-level BPE on books + dialogues and a GPT-2 pretrained on the books (`rugpt_chitchat.training.pretrain`);
  books    baseline / history / history-full-loss (history_ablation.py's runs; --variants picks any of RECIPES:
           the context loss weight 0.25 / 0.5, no speaker types, random-order batches) from the base, every seed;
  scratch  the same runs from random weights of the base's shape, identical per seed across variants (first seed
           first, the other seeds after the size study);
  size     the history run (and any other --size-variants) from the base on --size-fractions of the training
           dialogues for --size-epochs epochs, validation reply perplexity after each: the epoch where it turns up
           (constant learning rate after warmup, so that epoch does not depend on the epochs planned).
Same tokenizer, split and steps for every run, all evaluated on the same validation dialogues: reply perplexity
(first --eval-samples), the history probe (--probe-samples with history), next-utterance ranking (--rank-samples,
`rugpt_chitchat.evaluation.ranking`), generation metrics (--num-samples) and
replies to fixed contexts. results.json, results.md and the plots are rewritten after every run; a later call on
the same --output (more stages or seeds, or after a cut) keeps the finished runs and runs the rest;
`--report-only` rewrites results.md and the plots from results.json (e.g. where matplotlib is missing).
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import math
import random
import statistics
import sys
import time
import traceback
from pathlib import Path
from typing import NoReturn

import torch
from books_report import write_results
from common import CORPORA, RECIPES, VARIANTS, command_line_overrides, evaluate_run, fine_tune, fixed_contexts, prepare, pretrain_base
from datasets import DatasetDict, load_from_disk
from transformers import AutoTokenizer

from rugpt_chitchat.errors import DataError
from rugpt_chitchat.evaluation.probe import dialogue_ids
from rugpt_chitchat.evaluation.report import SAMPLE_HISTORIES
from rugpt_chitchat.training.job import JobArguments

logger = logging.getLogger("books_history")


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--output", default="runs/books-history")
    add("--books", nargs="+", default=["../shared/data/books"], help="book directories or files to pretrain on")
    add("--corpora", nargs="+", default=CORPORA, help="dialogue files (default: ../shared/data)")
    add("--time-budget", type=float, default=None, help="minutes from the start; runs predicted not to fit are skipped")
    add("--stages", nargs="+", choices=["books", "scratch", "size"], default=["books", "scratch", "size"])
    add("--seeds", nargs="+", type=int, default=[0, 1, 2])
    add("--variants", nargs="+", choices=list(RECIPES), default=list(VARIANTS), help="runs of the books and scratch stages")
    add("--num-proc", type=int, default=2, help="processes for tokenising and preparing data")
    base = parser.add_argument_group("base model (pretraining)")
    base.add_argument("--shape", default="n_layer=4,n_embd=256,n_head=4", help="GPT-2 shape of the base and scratch runs")
    base.add_argument("--block-size", type=int, default=128, help="pretraining block = the model's positions")
    base.add_argument("--vocab-size", type=int, default=8000)
    base.add_argument("--base-epochs", type=float, default=1.0)
    base.add_argument("--base-steps", type=int, default=-1, help="> 0: this many steps instead of --base-epochs")
    base.add_argument("--base-batch-size", type=int, default=32)
    base.add_argument("--base-lr", type=float, default=2e-3)
    base.add_argument("--base-eval-blocks", type=int, default=400)
    tune = parser.add_argument_group("fine-tuning runs")
    tune.add_argument("--steps", type=int, default=300, help="steps of every books and scratch run")
    tune.add_argument("--batch-size", type=int, default=32)
    tune.add_argument("--lr", type=float, default=5e-4, help="learning rate of runs from the base")
    tune.add_argument("--scratch-lr", type=float, default=2e-3, help="learning rate of runs from random weights")
    tune.add_argument("--max-length", type=int, default=128)
    tune.add_argument("--size-fractions", nargs="+", type=float, default=[0.1, 1.0])
    tune.add_argument("--size-epochs", nargs="+", type=int, default=[6, 3], help="epochs for each fraction")
    tune.add_argument("--size-variants", nargs="+", choices=list(RECIPES), default=["history"],
                      help="runs of the size study (e.g. the baseline beside history, at the same budget)")
    tune.add_argument("--size-batch-size", type=int, default=None, help="batch of the size study (default: --batch-size)")
    evaluation = parser.add_argument_group("evaluation (the same validation samples for every run)")
    evaluation.add_argument("--eval-samples", type=int, default=2000, help="validation samples scored for reply perplexity")
    evaluation.add_argument("--probe-samples", type=int, default=1000, help="validation samples with history for the probe")
    evaluation.add_argument("--rank-samples", type=int, default=500,
                            help="validation samples with history for next-utterance ranking (the true reply among 20)")
    evaluation.add_argument("--num-samples", type=int, default=200, help="validation samples answered (generation metrics)")
    evaluation.add_argument("--generation-batch-size", type=int, default=16)
    add("--report-only", action="store_true", help="rewrite results.md and the plots from results.json, run nothing")
    add("device_args", nargs="*", help="after --: TrainingArguments for every run, e.g. --use_cpu false --bf16 true")
    parser.error = lambda message: fail(f"{message}; see --help")
    args = parser.parse_args()
    if len(args.size_epochs) != len(args.size_fractions):
        parser.error("--size-epochs needs one number per --size-fractions")
    return args


class Budget:
    """Wall-clock budget. A run is predicted as a fixed cost (data, evaluation) plus its steps at the seconds
    per step measured so far, both from the fine-tuning runs already finished."""

    def __init__(self, minutes: float | None):
        self.deadline = time.monotonic() + minutes * 60 if minutes else math.inf
        self.steps, self.train_seconds, self.fixed_seconds = 0, 0.0, []

    def record(self, steps: int, seconds: float, train_seconds: float) -> None:
        self.steps += steps
        self.train_seconds += train_seconds
        self.fixed_seconds.append(seconds - train_seconds)

    def fits(self, steps: int) -> bool:
        expected = statistics.fmean(self.fixed_seconds) + steps * self.train_seconds / self.steps if self.steps else 0.0
        return time.monotonic() + expected <= self.deadline


RUN_NEUTRAL_SETTINGS = {"stages", "variants", "size_variants", "time_budget", "num_proc", "generation_batch_size",
                        "rank_samples"}  # runs finished before the ranking existed are kept, without its figures


def finished_results(path: Path, settings: dict) -> dict:
    """The results of an earlier call on the same output directory, so a call for more stages or seeds (or one
    cut short) runs only what is missing; refused when a setting that changes the runs differs."""
    if not path.exists():
        return {"settings": settings, "runs": {}, "skipped": [], "failed": {}}
    earlier = json.loads(path.read_text(encoding="utf-8"))
    changed = sorted(key for key in settings.keys() - RUN_NEUTRAL_SETTINGS
                     if earlier["settings"].get(key) != settings[key])
    if changed:
        fail(f"{path} holds runs made with other settings ({', '.join(changed)}): give those settings again or "
             "another --output")
    return {**earlier, "settings": settings, "skipped": [], "failed": {}}


def build_base(args: argparse.Namespace, output: Path, device: dict) -> dict:
    """Tokenizer and base model, once: reused when the output directory already has them."""
    base_dir = output / "base"
    if not (base_dir / "model.safetensors").exists():
        started = time.monotonic()
        length = dict(max_steps=args.base_steps) if args.base_steps > 0 else dict(num_train_epochs=args.base_epochs)
        outcome = pretrain_base(
            data=args.books, tokenizer_dialogues=args.corpora, output_dir=str(base_dir),
            config_overrides=f"{args.shape},n_positions={args.block_size}", block_size=args.block_size,
            tokenizer_vocab_size=args.vocab_size, **length, per_device_train_batch_size=args.base_batch_size,
            learning_rate=args.base_lr, warmup_steps=0.05, lr_scheduler_type="cosine", weight_decay=0.01,
            eval_strategy="no", save_strategy="no", max_eval_blocks=args.base_eval_blocks, logging_steps=50,
            preprocessing_num_workers=args.num_proc, seed=args.seeds[0], **device,
        )
        summary = {"perplexity": outcome.perplexity, "steps": outcome.global_step, "seconds": time.monotonic() - started}
        (base_dir / "base_summary.json").write_text(json.dumps(summary))
    return json.loads((base_dir / "base_summary.json").read_text())


def subset_by_dialogue(data_dir: Path, fraction: float, seed: int) -> Path:
    """The training samples of a random `fraction` of the training dialogues (validation unchanged), saved once."""
    if fraction >= 1:
        return data_dir
    directory = data_dir.with_name(f"{data_dir.name}-{round(fraction * 100)}pct")
    if not directory.exists():
        samples = load_from_disk(str(data_dir))
        groups = dialogue_ids(samples["train"])
        kept = set(random.Random(seed).sample(range(groups[-1] + 1), round(fraction * (groups[-1] + 1))))
        train_split = samples["train"].select([i for i, group in enumerate(groups) if group in kept])
        DatasetDict(train=train_split, validation=samples["validation"]).save_to_disk(str(directory))
    return directory


def fine_tune_run(args: argparse.Namespace, run: dict, run_dir: Path, data_dir: Path, base_dir: Path, device: dict) -> None:
    """One `train` run of the plan (`run["schedule"]`: its length, evaluation and learning-rate schedule); from
    scratch its weights depend only on the seed (the trainer seeds before building the model)."""
    if run["init"] == "books":
        start = dict(model_name_or_path=str(base_dir), learning_rate=args.lr)
    else:
        start = dict(tokenizer_name=str(base_dir), config_overrides=f"{args.shape},n_positions={args.block_size}",
                     learning_rate=args.scratch_lr)
    fine_tune(
        **start, **RECIPES[run["variant"]], **run["schedule"], data=[str(data_dir)], output_dir=str(run_dir),
        max_length=args.max_length, per_device_train_batch_size=run["batch_size"], warmup_steps=0.05,
        weight_decay=0.01, save_strategy="no", max_eval_samples=args.eval_samples, logging_steps=25,
        preprocessing_num_workers=args.num_proc, seed=run["seed"], **device,
    )


def train_seconds(run_dir: Path) -> float:
    """The training loop's own seconds (the Trainer's `train_runtime`), without data preparation and evaluation."""
    history = json.loads((run_dir / "trainer_state.json").read_text())["log_history"]
    return next(entry["train_runtime"] for entry in history if "train_runtime" in entry)


def epoch_curve(run_dir: Path) -> list[float]:
    """Validation reply perplexity after each epoch, from the run's trainer_state.json (the final evaluation
    repeats the last epoch's)."""
    history = json.loads((run_dir / "trainer_state.json").read_text())["log_history"]
    by_epoch = {round(entry["epoch"], 3): entry["eval_perplexity"] for entry in history
                if "eval_perplexity" in entry and entry.get("epoch", 0) > 0}
    return list(by_epoch.values())


def plan(args: argparse.Namespace, train_samples: int) -> list[dict]:
    """Every run, in the order the budget serves them: books, scratch first seed, size study, other scratch seeds."""
    fixed = dict(max_steps=args.steps, eval_strategy="no", lr_scheduler_type="cosine")
    runs = {"books": [], "scratch-first": [], "size": [], "scratch-rest": []}
    for seed in args.seeds:
        for variant in args.variants:
            common = dict(variant=variant, seed=seed, steps=args.steps, schedule=fixed, fraction=1.0,
                          batch_size=args.batch_size)
            runs["books"].append(dict(name=f"books/{variant}/seed{seed}", init="books", **common))
            stage = "scratch-first" if seed == args.seeds[0] else "scratch-rest"
            runs[stage].append(dict(name=f"scratch/{variant}/seed{seed}", init="scratch", **common))
    batch_size = args.size_batch_size or args.batch_size
    for fraction, epochs in zip(args.size_fractions, args.size_epochs):
        steps = epochs * math.ceil(fraction * train_samples / batch_size)
        # a constant rate after warmup: the epoch where validation turns up must not depend on the epochs planned
        schedule = dict(num_train_epochs=epochs, max_steps=-1, eval_strategy="epoch",
                        lr_scheduler_type="constant_with_warmup")
        for variant in args.size_variants:
            name = f"size/{round(fraction * 100)}pct" + ("" if variant == "history" else f"-{variant}")
            runs["size"].append(dict(name=name, init="books", variant=variant, seed=args.seeds[0], steps=steps,
                                     schedule=schedule, fraction=fraction, epochs=epochs, batch_size=batch_size))
    wanted = {"books": "books" in args.stages, "scratch-first": "scratch" in args.stages,
              "size": "size" in args.stages, "scratch-rest": "scratch" in args.stages}
    return [run for stage, stage_runs in runs.items() if wanted[stage] for run in stage_runs]


def fail(message: str) -> NoReturn:
    """Bad input (a missing or empty file, a wrong flag, other settings): one line and exit status 2, as the
    `rugpt-chitchat` commands do, no traceback."""
    print(f"books_history.py: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def main() -> None:
    args = parse_arguments()
    try:
        run_all(args)
    except DataError as error:
        fail(str(error))


def run_all(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    results_path = output / "results.json"
    if args.report_only:
        write_results(output, json.loads(results_path.read_text(encoding="utf-8")))
        return
    budget = Budget(args.time_budget)
    settings = {key: value for key, value in vars(args).items() if key != "report_only"}
    results = finished_results(results_path, settings)
    device = command_line_overrides(args.device_args, (JobArguments,))
    results["base"] = build_base(args, output, device)
    base_dir = output / "base"
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    data_dir = prepare(output, args.corpora, tokenizer, dedup=True, num_proc=args.num_proc)
    samples = load_from_disk(str(data_dir))
    validation = samples["validation"]
    results["contexts"] = fixed_contexts(validation, tokenizer, args.seeds[0], args.num_samples) + SAMPLE_HISTORIES
    for run in plan(args, len(samples["train"])):
        if run["name"] in results["runs"]:
            logger.info("%s: finished in an earlier call, kept", run["name"])
            continue
        if not budget.fits(run["steps"]):
            results["skipped"].append(run["name"])
            logger.info("Skipping %s: it would not fit the time budget", run["name"])
            continue
        run_dir = output / run["name"]
        started = time.monotonic()
        try:
            data = subset_by_dialogue(data_dir, run["fraction"], args.seeds[0])
            fine_tune_run(args, run, run_dir, data, base_dir, device)
            # one validation subset, sample and probe for all runs (the first seed); replies sampled with the run's
            result = evaluate_run(
                run_dir, data_dir, results["contexts"], args.seeds[0], num_samples=args.num_samples,
                max_eval_samples=args.eval_samples, probe_samples=args.probe_samples, rank_samples=args.rank_samples,
                generation_seed=run["seed"], generation_batch_size=args.generation_batch_size,
            )
            budget.record(run["steps"], time.monotonic() - started, train_seconds(run_dir))
            if "epochs" in run:
                result["epoch_perplexity"] = epoch_curve(run_dir)
                result["train_samples"] = len(load_from_disk(str(data))["train"])
            result["seconds"] = time.monotonic() - started
            results["runs"][run["name"]] = result
            logger.info("%s: %s", run["name"], json.dumps(result["metrics"], ensure_ascii=False))
        except Exception as error:  # unattended: one failed run (diverged, out of memory) must not cost the others
            results["failed"][run["name"]] = f"{type(error).__name__}: {error}"
            logger.error("%s failed:\n%s", run["name"], traceback.format_exc())
        finally:
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        results_path.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
        write_results(output, results)
    results_path.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    write_results(output, results)
    print(f"Done: {len(results['runs'])} runs, {len(results['skipped'])} skipped, {len(results['failed'])} failed; "
          f"see {output / 'results.md'}")


if __name__ == "__main__":
    main()
