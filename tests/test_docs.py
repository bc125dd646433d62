"""The manual builds strictly (a broken link, a missing anchor or a nav entry without its page fails; a page
not yet in the nav does not), the README stays short, and its test command and Python examples are real."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import rugpt_chitchat

REPO = Path(__file__).resolve().parents[1]
TEST_COMMAND = 'pip install torch==2.13.0 && pip install -e ".[test]" && HF_HUB_OFFLINE=1 python -m pytest -q'


def mkdocs_build(root: Path, site: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(root / "mkdocs.yml"), "--site-dir", str(site)],
        capture_output=True, text=True, timeout=300, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )  # fmt: skip


@pytest.fixture()
def docs_copy(tmp_path) -> Path:
    """The manual's sources in a scratch directory, to break."""
    root = tmp_path / "repo"
    shutil.copytree(REPO / "docs", root / "docs")
    for name in ("mkdocs.yml", "EXPERIMENTS.md", "BENCHMARKS.md"):
        shutil.copy(REPO / name, root / name)
    return root


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    site = tmp_path_factory.mktemp("site")
    result = mkdocs_build(REPO, site)
    assert result.returncode == 0, result.stderr[-3000:]
    return site


def test_the_manual_builds_strictly_with_every_page(site):
    nav_pages = re.findall(r"^  - [^:]+: (\S+\.md)$", (REPO / "mkdocs.yml").read_text(encoding="utf-8"), re.M)
    assert {"index.md", "configuration.md", "data.md", "training.md", "evaluation.md", "bot.md"} <= set(nav_pages)
    for page in nav_pages:
        built = site / ("index.html" if page == "index.md" else f"{page[:-3]}/index.html")
        assert built.is_file(), page


def test_the_top_level_experiments_and_benchmarks_are_the_sites_pages(site):
    experiments = (site / "experiments" / "index.html").read_text(encoding="utf-8")
    benchmarks = (site / "benchmarks" / "index.html").read_text(encoding="utf-8")
    assert "Does history help a pretrained model?" in experiments and "Training throughput" in benchmarks


def test_every_image_in_docs_is_shown_by_a_page(site):
    html = "".join(path.read_text(encoding="utf-8") for path in site.rglob("*.html"))
    for image in (REPO / "docs").glob("*.png"):
        assert re.search(rf'(src|href)="[./]*{re.escape(image.name)}"', html), image.name


@pytest.mark.parametrize(
    ("page", "addition", "message"),
    [
        ("docs/data.md", "[gone](no-such-page.md)", "no-such-page.md"),
        ("docs/training.md", "[gone](data.md#no-such-section)", "no-such-section"),
        ("EXPERIMENTS.md", "![gone](docs/no-such-plot.png)", "no-such-plot.png"),
    ],
)
def test_a_broken_link_fails_the_build(docs_copy, tmp_path, page, addition, message):
    with open(docs_copy / page, "a", encoding="utf-8") as text:
        text.write(f"\n{addition}\n")
    result = mkdocs_build(docs_copy, tmp_path / "site")
    assert result.returncode != 0 and message in result.stderr, result.stderr[-2000:]


def test_a_nav_entry_without_its_page_fails_and_a_page_outside_the_nav_builds(docs_copy, tmp_path):
    (docs_copy / "docs" / "new-page.md").write_text("# New\n\nSee [Data](data.md).\n", encoding="utf-8")
    assert mkdocs_build(docs_copy, tmp_path / "with-page").returncode == 0
    config = docs_copy / "mkdocs.yml"
    config.write_text(config.read_text(encoding="utf-8") + "  - Missing: missing.md\n", encoding="utf-8")
    result = mkdocs_build(docs_copy, tmp_path / "with-missing")
    assert result.returncode != 0 and "missing.md" in result.stderr


def test_the_readme_is_short_and_holds_the_ci_test_command_word_for_word():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 150
    assert TEST_COMMAND in readme
    assert TEST_COMMAND in (REPO / ".ci" / "run").read_text(encoding="utf-8"), ".ci/run calls the README's command"


def test_the_readmes_links_point_at_files_that_exist():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    targets = [link.split("#")[0] for link in re.findall(r"\]\(([^)]+)\)", readme) if "://" not in link]
    assert "docs/index.md" in targets
    assert [target for target in targets if not (REPO / target).exists()] == []


def test_the_readmes_python_examples_use_the_top_level_names():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert blocks
    for block in blocks:
        for node in ast.walk(ast.parse(block)):
            if isinstance(node, ast.ImportFrom) and node.module.startswith("rugpt_chitchat"):
                assert node.module == "rugpt_chitchat", node.module
                assert {alias.name for alias in node.names} <= set(rugpt_chitchat.__all__)
