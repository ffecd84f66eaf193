"""docs/configuration.md's table of options, written from Settings and the serve command's flags:
`python scripts/options_table.py [--check]` (`make docs`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pydantic.fields import FieldInfo

from polar_orders_mcp.cli import _parser, default_text
from polar_orders_mcp.settings import Settings, environment_names

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
BEGIN = "<!-- options table: written by `make docs` from Settings and `serve`'s flags; do not edit by hand -->"
END = "<!-- end of options table -->"


def serve_flags() -> dict[str, list[str]]:
    """Settings field -> the serve command's long options that set it, the first the one shown in --help."""
    parser = _parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    serve = commands.choices["serve"]
    flags: dict[str, list[str]] = {}
    for action in serve._actions:
        if action.dest != "help":
            flags[action.dest] = [option for option in action.option_strings if option.startswith("--")]
    return flags


def default(field: FieldInfo) -> str:
    if field.annotation is bool:
        return "on" if field.default else "off"
    text = default_text(field)
    return "—" if text is None else f"`{text}`"


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table() -> str:
    """The generated block, markers included: one row per Settings field, in Settings' order."""
    flags = serve_flags()
    rows = [BEGIN, "", "| flag | environment | default | meaning |", "|---|---|---|---|"]
    for name, field in Settings.model_fields.items():
        options = flags.get(name, [])
        flag = ", ".join(f"`{option}`" for option in options) or "—"
        names = environment_names(name)
        env = f"`{names[0]}`" + "".join(f" (or `{older}`)" for older in names[1:])
        rows.append(f"| {flag} | {env} | {default(field)} | {cell(field.description or '')} |")
    return "\n".join([*rows, "", END])


def updated(text: str) -> str:
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[:start] + table() + text[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python scripts/options_table.py", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed table differs, change nothing")
    args = parser.parse_args(argv)
    text = DOC.read_text()
    new = updated(text)
    if new == text:
        return 0
    if args.check:
        print("docs/configuration.md's options table differs from Settings: run make docs", file=sys.stderr)
        return 1
    DOC.write_text(new)
    print("wrote docs/configuration.md's options table", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
