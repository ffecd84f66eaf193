"""The docs' benchmark figures (docs/performance.md, docs/deployment.md) are the committed results' figures."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from bench import readme


def test_the_docs_figures_are_written_from_the_results_files() -> None:
    assert readme.BEGIN in readme.PERFORMANCE.read_text()
    assert readme.REPLICAS_BEGIN in readme.DEPLOYMENT.read_text()
    for doc in readme.FILES:
        text = doc.read_text()
        assert readme.updated(text) == text, f"{doc.name}: run python -m bench.readme"


def test_a_figure_changed_in_the_results_changes_the_readme_block(tmp_path: Path) -> None:
    for name in ("latest.md", "tasks.md", "replicas.md"):
        shutil.copy(readme.RESULTS / name, tmp_path / name)
    latest = tmp_path / "latest.md"
    ours = next(line for line in latest.read_text().splitlines() if line.startswith("| ours | "))
    cells = ours.strip("|").split("|")
    cells[1], cells[3] = " 17 ", " 7,777 "
    latest.write_text(latest.read_text().replace(ours, "|" + "|".join(cells) + "|"))
    assert "| `tools/list`, what the model reads | 7.8 KB for 17 tools |" in readme.block(tmp_path)


def test_a_replica_figure_changed_in_the_results_changes_the_readme_block(tmp_path: Path) -> None:
    shutil.copy(readme.RESULTS / "replicas.md", tmp_path / "replicas.md")
    results = tmp_path / "replicas.md"
    e2e = next(line for line in results.read_text().splitlines() if line.startswith("| SQLite file | "))
    results.write_text(results.read_text().replace(e2e, "| SQLite file | 12.5 / 20.0 | 1.00 | 8% |"))
    assert "(two calls and the console's click), p50 | 12.5 ms |" in readme.replicas(tmp_path)


def test_the_tool_lists_size_is_stated_only_where_the_benchmarks_write_it() -> None:
    """One figure, generated from the benchmark results (bench/readme.py): a size written by hand elsewhere drifts."""
    root = Path(__file__).resolve().parents[1]
    by_hand = r"[0-9.,]+ ?(?:KB|bytes)[^.\n]{0,40}tool list|tool list[^.\n]{0,20} [0-9.,]+ ?(?:KB|bytes)"
    for doc in (root / "README.md", root / "CONTRIBUTING.md", *(root / "docs").rglob("*.md")):
        text = doc.read_text()
        if readme.BEGIN in text:
            text = text[: text.index(readme.BEGIN)] + text[text.index(readme.END) :]
        assert not re.findall(by_hand, text), doc.name
