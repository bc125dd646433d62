"""Dialogues -> tokenised train/validation samples on disk (save_to_disk), with the settings that made them
in pipeline_config.json; `train --data DIR` reads both."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...config import PipelineConfig


@dataclass
class PreprocessArguments:
    tokenizer_name: str = field(metadata={"help": "Tokenizer (Hub name or directory) of the model to be trained."})
    output_dir: str = field(metadata={"help": "Directory for the DatasetDict and pipeline_config.json."})


ARGUMENTS = (PipelineConfig, PreprocessArguments)


def run(config: PipelineConfig, args: PreprocessArguments) -> None:
    from ...data.samples import expand_sources, prepare_dataset, save_samples
    from ...tokenizer import load_pretrained_tokenizer

    tokenizer = load_pretrained_tokenizer(args.tokenizer_name)
    sources = expand_sources(config.data)
    dataset, summary = prepare_dataset(sources, tokenizer, config)
    save_samples(dataset, args.output_dir, config, sources, args.tokenizer_name)
    print(summary.to_markdown())
    print(f"\nSaved to {args.output_dir}")
