"""Words for the person at the terminal, on stderr: in stdio mode stdout carries the MCP protocol and
nothing else, so no part of the server writes there."""

from __future__ import annotations

import sys


def say(text: str = "") -> None:
    """One line on stderr, flushed (it may come just before the process serves or exits)."""
    sys.stderr.write(f"{text}\n")
    sys.stderr.flush()
