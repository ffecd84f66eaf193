"""The documentation holds together: a one-page README, live relative links, the options table and the tool
list generated from the code, and troubleshooting quoting messages the server really writes."""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

from polar_orders_mcp.tools.registry import ALL_TOOLS, CUSTOMER_TOOLS
from polar_orders_mcp.tools.toolsets import TOOLSETS

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted([README, ROOT / "CONTRIBUTING.md", *(ROOT / "docs").rglob("*.md")])
README_BUDGET = 10_240  # bytes: one page a newcomer reads whole
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)


def prose(text: str) -> str:
    """The text outside fenced code blocks and inline code, where links are links."""
    return re.sub(r"`[^`\n]*`", "", FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip()).lower()
    return re.sub(r"[^\w\- ]", "", text.replace("`", "")).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    for line in FENCE.sub("", path.read_text()).splitlines():
        if match := re.match(r"#{1,6} (.+)", line):
            base = slug(match.group(1))
            name, n = base, 0
            while name in found:
                n += 1
                name = f"{base}-{n}"
            found.add(name)
    return found


def relative_links(path: Path) -> list[str]:
    return [t for t in LINK.findall(prose(path.read_text())) if not re.match(r"[a-z][a-z0-9+.-]*:", t)]


def test_the_readme_fits_on_one_page() -> None:
    size = len(README.read_bytes())
    assert size <= README_BUDGET, f"README.md is {size} bytes, over {README_BUDGET}: move the detail to docs/"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_leads_somewhere(doc: Path) -> None:
    dead = []
    for target in relative_links(doc):
        file, _, anchor = target.partition("#")
        where = (doc.parent / file).resolve() if file else doc
        if not where.exists():
            dead.append(f"{target}: no file {where.relative_to(ROOT) if where.is_relative_to(ROOT) else where}")
        elif anchor and where.suffix == ".md" and anchor not in anchors(where):
            dead.append(f"{target}: no heading #{anchor} in {where.relative_to(ROOT)}")
    assert not dead, f"{doc.relative_to(ROOT)}: " + "; ".join(dead)


def test_the_link_check_finds_a_dead_link_and_a_missing_heading(tmp_path: Path) -> None:
    doc = tmp_path / "a.md"
    doc.write_text("# Title\n\n## Two words\n\n[ok](#two-words) [bad](#three) [gone](b.md) `[code](x.md)`\n")
    assert relative_links(doc) == ["#two-words", "#three", "b.md"]
    assert anchors(doc) == {"title", "two-words"}
    assert slug("Claude Desktop on Polar's sandbox") == "claude-desktop-on-polars-sandbox"


def load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_options_table_is_generated_from_settings() -> None:
    options = load_script("options_table")
    text = options.DOC.read_text()
    assert options.updated(text) == text, "docs/configuration.md's options table differs from Settings: make docs"


def test_the_options_table_follows_a_changed_description(monkeypatch: pytest.MonkeyPatch) -> None:
    from polar_orders_mcp.settings import Settings

    options = load_script("options_table")
    monkeypatch.setattr(Settings.model_fields["timeout"], "description", "Seconds, changed.")
    assert "| `--timeout` | `POLAR_MCP_TIMEOUT` | `30` | Seconds, changed. |" in options.table()


def glance_rows() -> dict[str, tuple[str, str, str]]:
    """The README's tools at a glance: toolset -> (read, write, irreversible) names as written."""
    section = README.read_text().split("\n## Tools at a glance\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 4 and cells[0] not in ("toolset", "---"):
            rows[cells[0].split(" (")[0]] = (cells[1], cells[2], cells[3])
    return rows


def test_the_readme_lists_every_tool_with_its_tier_and_toolset() -> None:
    expected = {}
    for toolset in TOOLSETS:
        tools = [tool for tool in (*ALL_TOOLS, *CUSTOMER_TOOLS) if tool.toolset == toolset.name]
        by_tier = (
            ", ".join(tool.name for tool in tools if tool.tier == tier) or "—"
            for tier in ("read", "write", "irreversible")
        )
        expected[toolset.name] = tuple(by_tier)
    assert glance_rows() == expected


def test_the_readme_says_which_toolsets_are_opt_in() -> None:
    section = README.read_text().split("\n## Tools at a glance\n", 1)[1]
    for toolset in TOOLSETS:
        opt_in = f"| {toolset.name} (opt-in) |" in section
        assert opt_in == (not toolset.default), toolset.name


TROUBLESHOOTING = ROOT / "docs" / "troubleshooting.md"


def quoted_messages() -> list[str]:
    """The messages troubleshooting quotes: each ```text block, `…` standing for what varies."""
    blocks = re.findall(r"^```text\n(.*?)\n```", TROUBLESHOOTING.read_text(), re.M | re.S)
    return [" ".join(block.split()) for block in blocks]


def source_strings() -> list[str]:
    """Every string literal of the package, an f-string's values written `…`; adjacent literals joined."""
    found = []
    for path in (ROOT / "src" / "polar_orders_mcp").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.JoinedStr):
                found.append("".join(str(v.value) if isinstance(v, ast.Constant) else "…" for v in node.values))
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.append(node.value)
    return [" ".join(text.split()) for text in found]


def written_by_the_server(message: str, strings: list[str]) -> bool:
    """Whether one string of the source holds the message's fixed parts, in order."""
    parts = [part.strip() for part in message.split("…") if part.strip()]
    for text in strings:
        at = 0
        for part in parts:
            at = text.find(part, at)
            if at < 0:
                break
            at += len(part)
        else:
            return True
    return False


def test_troubleshooting_quotes_messages_the_server_writes() -> None:
    messages = quoted_messages()
    assert len(messages) >= 10
    strings = source_strings()
    drifted = [message for message in messages if not written_by_the_server(message, strings)]
    assert not drifted, "quoted in docs/troubleshooting.md but not in src/: " + " | ".join(drifted)


def test_a_message_the_server_does_not_write_is_caught() -> None:
    strings = ["The database at … has schema version …, newer than this server's …: upgrade polar-orders-mcp"]
    assert written_by_the_server("The database at … has schema version …, newer than this server's …", strings)
    assert not written_by_the_server("The customer session has expired: create a new one", strings)
    assert not written_by_the_server("newer than this server's … The database at …", strings)
