"""README's benchmark figures are the ones the committed results files give."""

from __future__ import annotations

import shutil
from pathlib import Path

from bench import readme


def test_the_readme_figures_are_written_from_the_results_files() -> None:
    text = readme.README.read_text()
    assert readme.replaced(text, readme.block()) == text, "run python -m bench.readme"


def test_a_figure_changed_in_the_results_changes_the_readme_block(tmp_path: Path) -> None:
    for name in ("latest.md", "tasks.md"):
        shutil.copy(readme.RESULTS / name, tmp_path / name)
    latest = tmp_path / "latest.md"
    latest.write_text(latest.read_text().replace("| ours | 20 | 58,372 | 17,191 |", "| ours | 18 | 50,000 | 8,248 |"))
    assert "| `tools/list`, what the model reads | 8.2 KB for 18 tools |" in readme.block(tmp_path)
