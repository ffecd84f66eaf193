"""The command line: version, help, and clear refusals of bad configuration."""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from polar_orders_mcp import __version__
from polar_orders_mcp.cli import main
from polar_orders_mcp.settings import Settings
from polar_orders_mcp.signing import signing_key
from polar_orders_mcp.store.records import POSTGRES_DRIVER_MISSING, SCHEMA_VERSION
from polar_orders_mcp.store.sql import SqlStore

# The command in a process where asyncpg cannot be imported, as where the postgres extra is not installed.
WITHOUT_ASYNCPG = ("-c", "import sys; sys.modules['asyncpg'] = None; from polar_orders_mcp.cli import main; main()")


def run(
    *args: str, env: dict[str, str] | None = None, without_asyncpg: bool = False
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("POLAR")}
    return subprocess.run(
        [sys.executable, *(WITHOUT_ASYNCPG if without_asyncpg else ("-m", "polar_orders_mcp")), *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={**base, **(env or {})},
        stdin=subprocess.DEVNULL,
    )


def refusal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str, env: dict[str, str]
) -> tuple[object, str]:
    """A start refused while reading the settings, in this process (the same main() the command runs,
    with only `env` in the POLAR* variables): the exit code and what was said on stderr. Refusals past
    the settings configure logging and open sockets: those run the real command, with run()."""
    for name in [k for k in os.environ if k.startswith("POLAR")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    said = capsys.readouterr()
    assert said.out == ""
    return exited.value.code, said.err


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"polar-orders-mcp {__version__}"


def test_help_lists_every_serve_option() -> None:
    result = run("serve", "--help")
    assert result.returncode == 0
    for flag in (
        "--emulator",
        "--server",
        "--api-version",
        "--confirm",
        "--confirm-ttl",
        "--timeout",
        "--max-retries",
        "--transport",
        "--host",
        "--port",
        "--allowed-hosts",
        "--allowed-origins",
        "--log-level",
    ):
        assert flag in result.stdout


def test_help_names_every_setting_with_its_environment_variable() -> None:
    """Flags show their variable in brackets; the settings no flag sets are listed, each with what it does."""
    from tests.test_packaging import env_names

    result = run("serve", "--help")
    assert result.returncode == 0
    missing = [name for name in env_names() if name not in result.stdout]
    assert missing == []
    assert "  POLAR_ACCESS_TOKEN: Polar organization access token" in result.stdout
    assert "  POLAR_MCP_DATABASE_URL: Store URL" in result.stdout


def test_missing_token_is_a_clear_error_not_a_traceback() -> None:
    result = run()
    assert result.returncode == 2
    assert "POLAR_ACCESS_TOKEN" in result.stderr
    assert "--emulator" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_invalid_setting_names_the_setting(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    env = {"POLAR_ACCESS_TOKEN": "polar_oat_x"}
    code, stderr = refusal(monkeypatch, capsys, "serve", "--server", "staging", env=env)
    assert code == 2
    assert "server" in stderr and "sandbox" in stderr
    assert "polar_oat_x" not in stderr


def test_http_beyond_loopback_needs_a_token() -> None:
    result = run("serve", "--emulator", "--transport", "http", "--host", "0.0.0.0", "--port", "0")
    assert result.returncode == 2
    assert "POLAR_MCP_HTTP_TOKEN" in result.stderr


@pytest.mark.parametrize(
    ("env", "args", "expected"),
    [
        (
            {"POLAR_SERVER": "http://"},
            (),
            "invalid setting POLAR_SERVER: must be 'production', 'sandbox', or a base "
            "URL such as https://sandbox-api.polar.sh or http://127.0.0.1:8080; the value 'http://' is not one: it has "
            "no host name",
        ),
        (
            {},
            ("--server", "http://"),
            "invalid setting --server: must be 'production', 'sandbox', or a base URL such "
            "as https://sandbox-api.polar.sh or http://127.0.0.1:8080; the value 'http://' is not one: it has no host "
            "name",
        ),
        (
            {"POLAR_ACCESS_TOKEN": "polar_cst_abcdef"},
            (),
            "invalid setting POLAR_ACCESS_TOKEN: is a customer session "
            "(polar_cst_…), which belongs in POLAR_CUSTOMER_SESSION (customer mode: one customer's own orders). "
            "POLAR_ACCESS_TOKEN takes an organization access token (polar_oat_…)",
        ),
        (
            {"POLAR_CUSTOMER_SESSION": "polar_oat_abcdef"},
            (),
            "invalid setting POLAR_CUSTOMER_SESSION: is an "
            "organization access token (polar_oat_…), which belongs in POLAR_ACCESS_TOKEN. POLAR_CUSTOMER_SESSION "
            "takes a customer session (polar_cst_…)",
        ),
        (
            {"POLAR_ACCESS_TOKEN": "polar_oat_abc def"},
            (),
            "invalid setting POLAR_ACCESS_TOKEN: has spaces or line "
            "breaks in it (a copy-paste slip?): set it to the token alone, nothing around it",
        ),
        (
            {"POLAR_ACCESS_TOKEN": "polar_oat_abcdef\n"},
            (),
            "invalid setting POLAR_ACCESS_TOKEN: has spaces or line "
            "breaks in it (a copy-paste slip?): set it to the token alone, nothing around it",
        ),
        (
            {},
            ("--max-charge", "-5"),
            "invalid setting --max-charge: '-5' is negative: a limit is a whole number of minor units, 0 or more",
        ),
        (
            {"POLAR_MCP_MAX_CHARGE": "-5"},
            (),
            "invalid setting POLAR_MCP_MAX_CHARGE: '-5' is negative: a "
            "limit is a whole number of minor units, 0 or more",
        ),
        (
            {},
            ("--max-charge", "12.50"),
            "invalid setting --max-charge: '12.50' is not an amount in minor "
            "units: give a whole number, e.g. 1250 for $12.50 (12.50 in major units is 1250 minor "
            "units for a 2-decimal "
            "currency)",
        ),
        (
            {},
            ("--max-daily", "usd=10,usd"),
            "invalid setting --max-daily: 'usd' is not an amount in minor units: "
            "give a whole number, e.g. 1250 for $12.50",
        ),
        (
            {},
            ("--max-charge", "usd:50000"),
            "invalid setting --max-charge: 'usd:50000': write usd=50000 (a currency's limit is currency=amount)",
        ),
        (
            {"POLAR_MCP_MAX_DAILY": "usd=50000,usd=100"},
            (),
            "invalid setting POLAR_MCP_MAX_DAILY: usd is given twice "
            "(usd=50000 and usd=100): keep one, usd=50000 or usd=100",
        ),
        (
            {},
            ("--max-daily", "usd=50000,usd=100"),
            "invalid setting --max-daily: usd is given twice (usd=50000 and usd=100): keep one, usd=50000 or usd=100",
        ),
        (
            {},
            ("--approval-above", "usd=50,000"),
            "invalid setting --approval-above: 'usd=50,000': a comma separates "
            "limits, so this reads as two; write usd=50000 (no thousands separators)",
        ),
        (
            {"POLAR_MCP_PASSKEY_ABOVE": "usd 50000"},
            (),
            "invalid setting POLAR_MCP_PASSKEY_ABOVE: 'usd 50000': write "
            "usd=50000 (a currency's limit is currency=amount)",
        ),
    ],
)
def test_a_bad_setting_is_refused_at_start_naming_what_the_user_typed(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    args: tuple[str, ...],
    expected: str,
) -> None:
    code, stderr = refusal(monkeypatch, capsys, "serve", *args, env={"POLAR_ACCESS_TOKEN": "polar_oat_abcdef", **env})
    assert code == 2
    assert stderr == f"polar-orders-mcp: {expected}\n"
    assert "abcdef" not in stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ("--read-only", "--tools", "finalize_order"),
            "--tools finalize_order keeps finalize_order; then --read-only (read tools only) removes finalize_order.",
        ),
        (
            ("--tools", "get_order", "--exclude-tools", "get_order"),
            "--tools get_order keeps get_order; then --exclude-tools get_order removes get_order.",
        ),
    ],
)
def test_a_selection_of_no_tools_is_refused_at_start(args: tuple[str, ...], expected: str) -> None:
    result = run("serve", "--emulator", *args)
    assert result.returncode == 2
    assert result.stderr == (
        f"polar-orders-mcp: This selection serves no tool at all: {expected} Change --tools, --exclude-tools, "
        "--toolsets or --read-only (or their POLAR_MCP_* variables) so that at least one tool is left.\n"
    )


@pytest.mark.parametrize(
    ("env", "args", "expected"),
    [
        ({}, ("--tools", "list_order"), "--tools: unknown list_order (did you mean list_orders?)."),
        ({"POLAR_MCP_TOOLS": "list_order"}, (), "POLAR_MCP_TOOLS: unknown list_order (did you mean list_orders?)."),
        (
            {"POLAR_MCP_EXCLUDE_TOOLS": "finalise_order"},
            (),
            "POLAR_MCP_EXCLUDE_TOOLS: unknown finalise_order (did you mean finalize_order?).",
        ),
        (
            {"POLAR_MCP_TOOLSETS": "subscription"},
            ("--transport", "http", "--port", "0"),
            "POLAR_MCP_TOOLSETS: unknown subscription (did you mean subscriptions?).",
        ),
    ],
)
def test_an_unknown_tool_name_is_refused_naming_the_flag_or_variable_that_gave_it(
    env: dict[str, str], args: tuple[str, ...], expected: str
) -> None:
    result = run("serve", "--emulator", *args, env=env)
    assert result.returncode == 2
    assert result.stderr.startswith(f"polar-orders-mcp: {expected} Known: ")
    assert result.stderr.count("\n") == 1 and result.stdout == ""


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize("transport", ["http", "sse"])
def test_a_port_in_use_is_named_before_anything_says_serving(taken_port: int, transport: str) -> None:
    result = run("serve", "--emulator", "--transport", transport, "--port", str(taken_port))
    assert result.returncode == 2
    assert result.stderr == (
        f"polar-orders-mcp: Port {taken_port} on 127.0.0.1 is already in use (another server, or this one started "
        "twice). Pick another with --port N (or POLAR_MCP_PORT), or stop what is listening there.\n"
    )


def test_the_emulator_names_a_port_in_use_before_its_banner(taken_port: int) -> None:
    result = run("emulator", "--port", str(taken_port))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"polar-orders-mcp emulator: Port {taken_port} on 127.0.0.1 is already in use (another server, or this one "
        "started twice). Pick another with --port N, or stop what is listening there.\n"
    )


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
        "polar-orders-mcp: invalid setting POLAR_MCP_REQUEST_STATE_KEYS: key 1 is too short"
    )
    assert "tooshort123" not in result.stderr


def test_each_polar_server_has_a_store_of_its_own_by_default(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Separate sandbox and production client entries (docs/clients.md) never share approvals, sessions or limits."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    monkeypatch.delenv("POLAR_MCP_STATE_DIR", raising=False)
    urls = {
        server: Settings(server=server).store_url()
        for server in ("production", "sandbox", "https://polar.internal.example", "https://other.example")
    }
    assert urls["production"] == f"sqlite:///{tmp_path}/polar-orders-mcp/production/state.db"
    assert urls["sandbox"] == f"sqlite:///{tmp_path}/polar-orders-mcp/sandbox/state.db"
    assert len(set(urls.values())) == 4
    assert Settings(server="sandbox", state_dir=tmp_path / "mine").store_url() == f"sqlite:///{tmp_path}/mine/state.db"


@pytest.fixture
def newer_state_dir(tmp_path: Any) -> Any:
    """A state directory written by a newer version: its schema is one past this server's."""
    import sqlite3

    import anyio

    async def make() -> None:
        store = SqlStore(f"sqlite:///{tmp_path}/state.db")
        await store.open()
        await store.close()

    anyio.run(make)
    with sqlite3.connect(tmp_path / "state.db") as db:
        db.execute("UPDATE pom_meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    return tmp_path


def test_a_stdio_server_on_a_store_of_a_newer_version_does_not_start(newer_state_dir: Any) -> None:
    result = run("serve", "--emulator", "--state-dir", str(newer_state_dir))
    assert (result.returncode, result.stdout) == (2, "")
    assert "Traceback" not in result.stderr
    assert result.stderr.endswith(
        f"polar-orders-mcp: The database at sqlite:///{newer_state_dir}/state.db has schema version "
        f"{SCHEMA_VERSION + 1}, newer than this server's {SCHEMA_VERSION}: upgrade polar-orders-mcp, or point it at "
        "another database.\n"
    )


POSTGRES_URL = "postgresql://pom:db-password-1234@127.0.0.1:1/pom"


@pytest.mark.parametrize("transport", ["stdio", "http"])
def test_a_postgresql_url_without_the_driver_names_the_extra_at_start(transport: str) -> None:
    result = run(
        "serve",
        "--emulator",
        "--transport",
        transport,
        "--port",
        "0",
        env={"POLAR_MCP_DATABASE_URL": POSTGRES_URL},
        without_asyncpg=True,
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.endswith(f"polar-orders-mcp: {POSTGRES_DRIVER_MISSING}\n")
    assert "Traceback" not in result.stderr and "db-password-1234" not in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("audit", "verify"),
        ("audit", "tail"),
        ("audit", "receipt", "apr_x"),
        ("passkeys", "list"),
        ("passkeys", "reset", "ada"),
    ],
)
def test_a_postgresql_url_without_the_driver_names_the_extra_in_every_command(
    args: tuple[str, ...], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    signing_key(None, tmp_path)  # the server's key, which verify, receipt and reset read first
    monkeypatch.setitem(sys.modules, "asyncpg", None)  # as if the postgres extra were not installed
    code, said = refusal(
        monkeypatch, capsys, *args, "--state-dir", str(tmp_path), env={"POLAR_MCP_DATABASE_URL": POSTGRES_URL}
    )
    assert (code, said) == (2, f"polar-orders-mcp {args[0]}: {POSTGRES_DRIVER_MISSING}\n")


# The Polar token checked at start (polar_orders_mcp/token_check.py), through the real command.
MADE_UP_TOKEN = "polar_oat_MADEupZq7ZpL2mXv9RtK4wNs8BdJ3h"


@pytest.fixture(scope="module")
def polar() -> Iterator[str]:
    """The emulator as a process of its own: the URL a server is pointed at with --server."""
    from tests.reliability.processes import emulator_process

    with emulator_process("--orders", "3") as emulator:
        yield emulator.url


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port bound but not listening: a connection to it is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_a_token_of_the_wrong_kind_is_refused_at_start_before_any_request() -> None:
    result = run("serve", "--server", "sandbox", env={"POLAR_ACCESS_TOKEN": "sk_live_51HabcdefghijklmnopQRST"})
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "polar-orders-mcp: POLAR_ACCESS_TOKEN is a Stripe secret key (sk_live_…), which Polar refuses on every call "
        "this server makes. Create an organization access token (polar_oat_…) in your organization's settings in "
        "Polar sandbox and set POLAR_ACCESS_TOKEN to it. Not started.\n"
    )


@pytest.mark.parametrize("transport", ["stdio", "http"])
def test_a_token_polar_does_not_accept_stops_the_start(polar: str, transport: str) -> None:
    result = run(
        "serve", "--server", polar, "--transport", transport, "--port", "0", env={"POLAR_ACCESS_TOKEN": MADE_UP_TOKEN}
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.endswith(
        f"polar-orders-mcp: The server ({polar}) does not accept POLAR_ACCESS_TOKEN: is it one made for another "
        "server? Check POLAR_SERVER (or --server). Otherwise it was revoked, has expired or was mistyped. Create an "
        "organization access token (polar_oat_…) in your organization's settings in Polar and set POLAR_ACCESS_TOKEN "
        "to it. Not started.\n"
    )
    assert "MADEup" not in result.stderr and "Traceback" not in result.stderr


def test_a_polar_that_cannot_be_reached_is_a_warning_and_the_server_starts(closed_port: int) -> None:
    url = f"http://127.0.0.1:{closed_port}"
    result = run("serve", "--server", url, "--read-only", env={"POLAR_ACCESS_TOKEN": MADE_UP_TOKEN})
    assert (result.returncode, result.stdout) == (0, "")  # served stdio until its input ended
    assert result.stderr.endswith(
        f" WARNING polar_orders_mcp: Could not talk to Polar at {url} (ConnectError), so POLAR_ACCESS_TOKEN was not "
        "checked; serving all the same: calls fail until Polar answers. Check the network and POLAR_SERVER (or "
        "--server).\n"
    )
    assert result.stderr.count("\n") == 1 and "MADEup" not in result.stderr


def test_a_token_polar_accepts_starts_without_a_word(polar: str) -> None:
    from polar_orders_mcp.emulator.seed import ORG_TOKEN

    result = run("serve", "--server", polar, "--read-only", env={"POLAR_ACCESS_TOKEN": ORG_TOKEN})
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def normalized(text: str) -> str:
    return " ".join(text.split())


def test_each_option_says_what_its_setting_says() -> None:
    """serve --help shows each setting's own description (an option's help, or the list of those the environment
    alone sets), with its environment variable."""
    shown = normalized(run("serve", "--help").stdout)
    fields = Settings.model_fields.items()
    missing = [name for name, field in fields if normalized(field.description or "") not in shown]
    assert missing == []
    assert (
        "--timeout SECONDS Seconds to wait for Polar before giving up on a request. Default: 30. "
        "[POLAR_MCP_TIMEOUT]" in shown
    )


def test_the_main_help_names_every_secret() -> None:
    """polar-orders-mcp --help names the variables serve --help lists as read from the environment only."""
    serve_help = run("serve", "--help").stdout.split("read from the environment only", 1)[1]
    secrets = re.findall(r"^  ([A-Z_]+): ", serve_help, re.M)
    assert "POLAR_MCP_OAUTH_CLIENT_SECRET" in secrets and len(secrets) >= 10
    shown = normalized(run("--help").stdout)
    assert [name for name in secrets if name not in shown] == []


def test_a_new_setting_gets_its_serve_option() -> None:
    """An option is made from its setting: name, type, description, default and variable; a secret gets none."""
    from typing import Annotated

    from pydantic import Field, SecretStr
    from pydantic_settings import NoDecode

    from polar_orders_mcp.cli import add_serve_options

    class Grown(Settings):
        refund_window: float = Field(default=30.0, gt=0, description="Days a refund may follow its order.")
        lanes: Annotated[list[str], NoDecode] = Field(default_factory=list, description="Lanes to serve.")
        quiet: bool = Field(default=False, description="Say less.")
        webhook_secret: SecretStr | None = Field(default=None, description="A secret.")

    parser = argparse.ArgumentParser(prog="serve")
    add_serve_options(parser, Grown)
    args = parser.parse_args(["--refund-window", "7", "--lanes", "a, b", "--quiet"])
    assert (args.refund_window, args.lanes, args.quiet) == (7.0, ["a", "b"], True)
    shown = normalized(parser.format_help())
    assert "--refund-window NUMBER Days a refund may follow its order. Default: 30. [POLAR_MCP_REFUND_WINDOW]" in shown
    assert "--lanes A,B Lanes to serve. [POLAR_MCP_LANES]" in shown
    assert "--webhook-secret" not in shown


@pytest.mark.parametrize(
    ("env", "args", "field", "expected"),
    [
        ({"POLAR_SERVER": "sandbox"}, ("--server", "production"), "server", "production"),
        ({"POLAR_MCP_TIMEOUT": "5"}, ("--timeout", "7"), "timeout", 7.0),
        ({"POLAR_MCP_CONFIRM_TTL": "5"}, ("--approval-ttl", "9"), "approval_ttl", 9.0),
        ({"POLAR_MCP_APPROVAL_TTL": "5"}, ("--confirm-ttl", "9"), "approval_ttl", 9.0),
        ({"POLAR_MCP_OAUTH_REGISTRATION": "true"}, ("--no-oauth-registration",), "oauth_registration", False),
        ({"POLAR_MCP_READ_ONLY": "false"}, ("--read-only",), "read_only", True),
        (
            {"POLAR_MCP_TOOLS": "get_order"},
            ("--tools", "list_orders, get_order"),
            "tools",
            ["list_orders", "get_order"],
        ),
        ({"POLAR_MCP_CONFIRM": "console"}, ("--confirm", "token"), "confirm", "relay"),
        ({"POLAR_MCP_LOG_LEVEL": "error"}, ("--log-level", "debug"), "log_level", "DEBUG"),
    ],
)
def test_a_flag_overrides_the_environment(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], args: tuple[str, ...], field: str, expected: object
) -> None:
    from polar_orders_mcp.cli import _parser, _settings_overrides

    for name in [k for k in os.environ if k.startswith("POLAR")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert getattr(Settings(), field) != expected
    assert getattr(Settings(**_settings_overrides(_parser().parse_args(["serve", *args]))), field) == expected


@pytest.mark.parametrize("module", ["cli.py", "settings.py"])
def test_the_command_line_and_settings_are_short_functions(module: str) -> None:
    import ast
    from pathlib import Path

    import polar_orders_mcp

    source = Path(polar_orders_mcp.__file__).parent / module
    long = [
        f"{node.name}: {node.end_lineno - node.lineno + 1} lines"
        for node in ast.walk(ast.parse(source.read_text()))
        if isinstance(node, ast.FunctionDef) and (node.end_lineno or 0) - node.lineno >= 40
    ]
    assert long == []
