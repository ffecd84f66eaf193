"""The command line: version, help, and clear refusals of bad configuration."""

from __future__ import annotations

import os
import subprocess
import sys

from polar_orders_mcp import __version__


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("POLAR")}
    return subprocess.run(
        [sys.executable, "-m", "polar_orders_mcp", *args],
        capture_output=True, text=True, timeout=30, env={**base, **(env or {})}, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"polar-orders-mcp {__version__}"


def test_help_lists_every_serve_option() -> None:
    result = run("serve", "--help")
    assert result.returncode == 0
    for flag in ("--emulator", "--server", "--api-version", "--confirm", "--confirm-ttl", "--timeout",
                 "--max-retries", "--transport", "--host", "--port", "--allowed-hosts", "--allowed-origins",
                 "--log-level"):  # fmt: skip
        assert flag in result.stdout


def test_missing_token_is_a_clear_error_not_a_traceback() -> None:
    result = run()
    assert result.returncode == 2
    assert "POLAR_ACCESS_TOKEN" in result.stderr
    assert "--emulator" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_invalid_setting_names_the_setting() -> None:
    result = run("serve", "--server", "staging", env={"POLAR_ACCESS_TOKEN": "polar_oat_x"})
    assert result.returncode == 2
    assert "server" in result.stderr and "sandbox" in result.stderr
    assert "polar_oat_x" not in result.stderr


def test_http_beyond_loopback_needs_a_token() -> None:
    result = run("serve", "--emulator", "--transport", "http", "--host", "0.0.0.0", "--port", "0")
    assert result.returncode == 2
    assert "POLAR_MCP_HTTP_TOKEN" in result.stderr


def test_an_http_server_whose_database_cannot_be_reached_does_not_start() -> None:
    database = "postgresql://pom:db-password-1234@127.0.0.1:1/pom"
    result = run("serve", "--emulator", "--transport", "http", "--port", "0", env={"POLAR_MCP_DATABASE_URL": database})
    assert result.returncode == 2
    assert result.stderr.endswith(
        "polar-orders-mcp: the store at postgresql://pom:***@127.0.0.1:1/pom failed (ConnectionRefusedError: "
        "[Errno 111] Connect call failed ('127.0.0.1', 1))\n"
    )
    assert "POLAR_MCP_REQUEST_STATE_KEYS is not set" in result.stderr  # a shared database: warned first
    assert "db-password-1234" not in result.stderr and "Traceback" not in result.stderr


def test_request_state_keys_that_are_not_keys_are_refused_without_echoing_them() -> None:
    result = run("serve", "--emulator", "--transport", "http", env={"POLAR_MCP_REQUEST_STATE_KEYS": "tooshort123"})
    assert result.returncode == 2
    assert result.stderr.startswith(
        "polar-orders-mcp: invalid setting POLAR_MCP_REQUEST_STATE_KEYS: Value error, key 1 is too short"
    )
    assert "tooshort123" not in result.stderr
