"""results.md and the plots of books_history.py, from its results dict (rewritten after every run)."""

from __future__ import annotations

import logging
import math
import statistics
from collections import defaultdict
from pathlib import Path

from common import COLORS

logger = logging.getLogger("books_history")

SHOWN = ["reply_perplexity", "reply_perplexity_true_history", "reply_perplexity_no_history",
         "reply_perplexity_shuffled_history", "history_gain_none", "history_gain_shuffled", "bleu", "rougeL",
         "distinct_2", "echo_rate", "echo_rate_raw", "wordless_rate_raw", "reply_length_words", "repetition_rate",
         "rank_logprob_hits_at_1_true_history", "rank_logprob_hits_at_1_no_history", "rank_logprob_hits_at_1_gain",
         "rank_logprob_hits_at_5_true_history", "rank_logprob_mrr_true_history", "rank_pmi_hits_at_1_true_history",
         "rank_pmi_hits_at_1_no_history", "rank_pmi_hits_at_1_gain"]
PLOTTED = ["reply_perplexity", "history_gain_none", "history_gain_shuffled", "rank_logprob_hits_at_1_gain", "rougeL"]
RANK_GAIN = "rank_logprob_hits_at_1_gain"  # the ranking's headline (see rugpt_chitchat.evaluation.ranking)
GOAL_PROBE, GOAL_RANK = 1.05, 0.05  # issue 22: history_gain_shuffled interval above 1.05, hits@1 gain >= 5 points


def groups(results: dict) -> dict[str, list[dict]]:
    """Finished books/scratch runs by `init/variant`, seeds together."""
    grouped = defaultdict(list)
    for name, run in results["runs"].items():
        if not name.startswith("size/"):
            grouped[name.rsplit("/", 1)[0]].append(run)
    return dict(grouped)


def mean_sd(values: list[float]) -> tuple[float, float]:
    """Mean and sd of the runs that have the figure (runs made before the ranking existed lack its figures)."""
    values = [value for value in values if value is not None]
    if not values:
        return math.nan, math.nan
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def summary_table(grouped: dict[str, list[dict]]) -> list[str]:
    names = list(grouped)
    lines = ["| metric | " + " | ".join(f"{name} (n={len(grouped[name])})" for name in names) + " |",
             "| --- |" + " ---: |" * len(names)]
    for metric in SHOWN:
        cells = []
        for name in names:
            mean, sd = mean_sd([run["metrics"].get(metric) for run in grouped[name]])
            cells.append(f"{mean:.4g} ± {sd:.2g}")
        lines.append(f"| {metric} | " + " | ".join(cells) + " |")
    return lines


def gains_table(results: dict) -> list[str]:
    lines = ["| run | reply perplexity | history_gain_none (95 % CI) | history_gain_shuffled (95 % CI) | "
             "hits@1 true history / none | hits@1 gain (95 % CI) |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, run in results["runs"].items():
        m = run["metrics"]
        gains = [f"{m[g]:.3f} ({m[g + '_ci_low']:.3f}–{m[g + '_ci_high']:.3f})"
                 for g in ("history_gain_none", "history_gain_shuffled")]
        if RANK_GAIN in m:
            gains += [f"{m['rank_logprob_hits_at_1_true_history']:.3f} / {m['rank_logprob_hits_at_1_no_history']:.3f}",
                      f"{m[RANK_GAIN]:+.3f} ({m[RANK_GAIN + '_ci_low']:+.3f}–{m[RANK_GAIN + '_ci_high']:+.3f})"]
        else:
            gains += ["–", "–"]
        lines.append(f"| {name} | {m['reply_perplexity']:.1f} | " + " | ".join(gains) + " |")
    return lines


def goal_table(results: dict) -> list[str]:
    """Issue 22's goal, run by run against the baseline of the same init and seed: reply perplexity below it,
    the `history_gain_shuffled` interval above 1.05, the hits@1 gain at least 0.05; `all` when the same run
    meets the three. A recipe meets the goal when every seed's run says `all`."""
    runs = {tuple(name.split("/")): run["metrics"] for name, run in results["runs"].items() if not name.startswith("size/")}
    lines = ["| run | perplexity / baseline's | probe CI low | hits@1 gain | goal |", "| --- | ---: | ---: | ---: | --- |"]
    for (init, variant, seed), m in runs.items():
        baseline = runs.get((init, "baseline", seed))
        if variant.startswith("baseline") or baseline is None or RANK_GAIN not in m:
            continue
        ratio = m["reply_perplexity"] / baseline["reply_perplexity"]
        met = [ratio < 1, m["history_gain_shuffled_ci_low"] > GOAL_PROBE, m[RANK_GAIN] >= GOAL_RANK]
        verdict = "all" if all(met) else "misses " + ", ".join(
            part for part, ok in zip(("perplexity", "probe", "ranking"), met) if not ok)
        lines.append(f"| {init}/{variant}/{seed} | {ratio:.3f} | {m['history_gain_shuffled_ci_low']:.3f} | "
                     f"{m[RANK_GAIN]:+.3f} | {verdict} |")
    return lines if len(lines) > 2 else []


def size_table(results: dict) -> list[str]:
    sized = {name: run for name, run in results["runs"].items() if name.startswith("size/")}
    if not sized:
        return []
    lines = ["| training dialogues | samples | validation reply perplexity by epoch | best epoch | turns up at epoch |",
             "| --- | ---: | --- | ---: | ---: |"]
    for name, run in sized.items():
        curve = run["epoch_perplexity"]
        best = curve.index(min(curve)) + 1
        up = next((epoch + 1 for epoch in range(1, len(curve)) if curve[epoch] > curve[epoch - 1]), None)
        lines.append(f"| {name.split('/')[1]} | {run['train_samples']:,} | " + ", ".join(f"{p:.1f}" for p in curve)
                     + f" | {best} | {up or 'not within ' + str(len(curve))} |")
    return lines


def replies_section(results: dict) -> list[str]:
    """Each context with the replies of every group's first finished seed."""
    firsts = {name: runs[0] for name, runs in groups(results).items()}
    lines = []
    for index, context in enumerate(results.get("contexts", [])):
        lines += ["", f"**Context {index + 1}:** " + " / ".join(context)]
        lines += [f"- {name}: {run['replies'][index]}" for name, run in firsts.items()]
    return lines


def plot(results: dict, output: Path) -> None:
    try:
        import matplotlib
    except ImportError:
        logger.warning("matplotlib is missing: no plots (rerun with --report-only where it is installed)")
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grouped = groups(results)
    if grouped:
        figure, axes = plt.subplots(1, len(PLOTTED), figsize=(4 * len(PLOTTED), 3.6))
        names = list(grouped)
        for axis, metric in zip(axes, PLOTTED):
            stats = [mean_sd([run["metrics"].get(metric) for run in grouped[name]]) for name in names]
            colors = [COLORS.get(name.split("/")[1], f"C{index % 10}") for index, name in enumerate(names)]
            hatches = ["" if name.startswith("books") else "//" for name in names]
            bars = axis.bar(names, [m for m, _ in stats], yerr=[s for _, s in stats], color=colors, capsize=3)
            for bar, hatch in zip(bars, hatches):
                bar.set_hatch(hatch)
            axis.set_title(metric + (" (1 = no use)" if metric.startswith("history_gain") else ""))
            if metric.startswith("history_gain"):
                axis.axhline(1.0, color="black", linewidth=0.8)
                axis.set_ylim(bottom=min(0.98, *(m - s - 0.01 for m, s in stats)))
            axis.tick_params(axis="x", rotation=60, labelsize=7)
        figure.tight_layout()
        figure.savefig(output / "books_history.png", dpi=100)
        plt.close(figure)
    sized = {name: run for name, run in results["runs"].items() if name.startswith("size/")}
    if sized:
        figure, axis = plt.subplots(figsize=(5, 3.6))
        for name, run in sized.items():
            curve = run["epoch_perplexity"]
            axis.plot(range(1, len(curve) + 1), curve, marker="o", label=name.split("/")[1])
        axis.set(xlabel="epoch", ylabel="validation reply perplexity", title="history run from the books base")
        axis.legend()
        figure.tight_layout()
        figure.savefig(output / "size_study.png", dpi=100)
        plt.close(figure)


def write_results(output: Path, results: dict) -> None:
    """results.md and the plots for the runs finished, skipped and failed so far."""
    base = results.get("base", {})
    settings = results["settings"]
    shown = ["shape", "block_size", "vocab_size", "steps", "batch_size", "lr", "scratch_lr", "max_length", "seeds"]
    lines = [f"Base: held-out perplexity {base.get('perplexity', float('nan')):.1f} after {base.get('steps', 0)} steps "
             f"({base.get('seconds', 0) / 60:.1f} min). " + ", ".join(f"{key} {settings[key]}" for key in shown)
             + " (all settings in results.json).", ""]
    grouped = groups(results)
    if grouped:
        lines += ["Mean ± sd over seeds:", "", *summary_table(grouped), "", *gains_table(results)]
        goal = goal_table(results)
        if goal:
            lines += ["", f"The goal of issue 22 (perplexity below the same seed's baseline, probe interval above "
                      f"{GOAL_PROBE}, hits@1 gain >= {GOAL_RANK}):", "", *goal]
    size = size_table(results)
    if size:
        lines += ["", "Data size (history run from the base):", "", *size]
    notes = sorted({f"{name.split('/')[1]}: {note}" for name, run in results["runs"].items() for note in run["notes"]})
    lines += ["", *notes] if notes else []
    lines += replies_section(results)
    lines += [f"- **skipped** (time budget): {name}" for name in results["skipped"]]
    lines += [f"- **failed**: {name}: {reason}" for name, reason in results["failed"].items()]
    (output / "results.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    plot(results, output)
