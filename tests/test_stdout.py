"""In stdio mode stdout carries the MCP protocol and nothing else: no part of the server prints."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "polar_orders_mcp"
# Commands of their own whose stdout is their answer, never an MCP session: the emulator's banner (an
# HTTP server for people to point clients at), `audit verify|tail` and `passkeys list|reset` (a report to read
# or pipe).
OWN_STDOUT = {"emulator/app.py", "audit_cli.py", "passkeys_cli.py"}


def test_no_module_of_the_server_calls_print() -> None:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        where = path.relative_to(PACKAGE).as_posix()
        if where in OWN_STDOUT:
            continue
        for node in ast.walk(ast.parse(path.read_text(), where)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                found.append(f"{where}:{node.lineno}")
    assert found == [], f"print() in server code (use polar_orders_mcp.stderr.say): {found}"


def test_say_writes_to_stderr_only(capsys: object) -> None:
    from polar_orders_mcp.stderr import say

    say("serving")
    captured = capsys.readouterr()  # type: ignore[attr-defined]
    assert captured.out == "" and captured.err == "serving\n"
