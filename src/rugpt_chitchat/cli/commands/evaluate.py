"""Checkpoint -> reply perplexity, the history probe, next-utterance ranking and generation metrics on its validation split (metrics.json, metrics.md,
learning_curve.png). The data and the split default to what training recorded in the checkpoint."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...config import CheckpointArguments, PipelineConfig


@dataclass
class EvaluateArguments:
    num_samples: int = field(default=200, metadata={"help": "Validation samples answered for generation metrics."})
    max_eval_samples: int | None = field(
        default=None, metadata={"help": "Score reply perplexity on the first N validation samples (as `train` does)."}
    )
    probe_samples: int = field(
        default=2000,
        metadata={"help": "Validation samples with history for the history probe (reply perplexity with the true "
                  "history, none, another dialogue's); 0: no probe."},
    )
    rank_samples: int = field(
        default=500,
        metadata={"help": "Validation samples with history for next-utterance ranking (the true reply among 20, "
                  "with the true history and none; hits@1, hits@5, MRR); 0: no ranking."},
    )
    output_dir: str | None = field(default=None, metadata={"help": "Directory for the report; default: CHECKPOINT/evaluation."})


ARGUMENTS = (CheckpointArguments, PipelineConfig, EvaluateArguments)


def recorded(values: dict) -> dict:
    """The data settings training recorded in the checkpoint: they rank below the YAML file and the flags."""
    from ...evaluation.report import recorded_data_settings

    return recorded_data_settings(values["checkpoint"]) if values.get("checkpoint") else {}


def run(model: CheckpointArguments, pipeline: PipelineConfig, args: EvaluateArguments) -> None:
    from ...evaluation.report import evaluate_checkpoint, write_report

    report = evaluate_checkpoint(
        model.checkpoint, pipeline.data, args.num_samples, pipeline, model.device, args.max_eval_samples, args.probe_samples,
        args.rank_samples,
    )
    written = write_report(report, model.checkpoint, args.output_dir or f"{model.checkpoint.rstrip('/')}/evaluation")
    print(report.to_markdown())
    print("Wrote " + ", ".join(map(str, written)))
