"""`polar-orders-mcp demo`: the scripted session over stdio runs to its end, through the real command."""

from __future__ import annotations

import subprocess
import sys

from tests.reliability.processes import clean_env


def test_the_demo_runs_to_its_end_saying_everything_on_stderr() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "polar_orders_mcp", "demo"],
        capture_output=True,
        text=True,
        timeout=110,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
    )
    assert (result.returncode, result.stdout) == (0, ""), result.stderr[-2000:]
    assert result.stderr.endswith("Demo complete.\n")
    assert "Traceback" not in result.stderr
