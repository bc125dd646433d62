"""mkdocs hook: the site's experiments and benchmarks pages are the top-level EXPERIMENTS.md and BENCHMARKS.md,
which stay where GitHub readers find them; their links, written from the repository root, are re-pointed to
docs/ so that `mkdocs build --strict` checks them like every other page's."""

from __future__ import annotations

from pathlib import Path

INCLUDED = {"experiments.md": "EXPERIMENTS.md", "benchmarks.md": "BENCHMARKS.md"}


def on_page_markdown(markdown: str, page, config, files) -> str:
    top_level = INCLUDED.get(page.file.src_uri)
    if top_level is None:
        return markdown
    text = Path(config.config_file_path).with_name(top_level).read_text(encoding="utf-8")
    for page_name, file_name in INCLUDED.items():
        text = text.replace(f"]({file_name}", f"]({page_name}")
    return text.replace("](docs/", "](")
