"""Release metadata agrees with the code: version, registry manifest, documented options, conformance baseline."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from mcp.client import Client

from polar_orders_mcp import __version__
from polar_orders_mcp.server.app import build_server
from polar_orders_mcp.settings import Settings, environment_names

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SERVER_JSON: dict[str, Any] = json.loads((ROOT / "server.json").read_text())
README = (ROOT / "README.md").read_text()
DOCS = ROOT / "docs"
CONFIGURATION = (DOCS / "configuration.md").read_text()
DEPLOYMENT = (DOCS / "deployment.md").read_text()


def env_names() -> set[str]:
    """Every environment variable Settings reads (the current name of each field)."""
    return {environment_names(name)[0] for name in Settings.model_fields}


def options_table() -> list[tuple[str, str]]:
    """(flag, environment) of every flag of every row of docs/configuration.md's Options table."""
    section = CONFIGURATION.split("\n## Options\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| ((?:`--[a-z-]+`(?:, )?)+|—) \| `([A-Z_]+)`", section, re.M)
    return [(flag.strip("`"), env) for flags, env in rows for flag in flags.split(", ")]


def test_the_version_has_one_source() -> None:
    assert "version" in PYPROJECT["project"]["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "polar_orders_mcp.__version__"}
    dated = rf"^## \[{re.escape(__version__)}\] — \d{{4}}-\d{{2}}-\d{{2}}$"
    assert re.search(dated, (ROOT / "CHANGELOG.md").read_text(), re.M)


def test_the_docs_say_which_store_schema_this_version_writes() -> None:
    from polar_orders_mcp.store.records import SCHEMA_VERSION

    section = DEPLOYMENT.split("\n## Versions and the store\n", 1)[1].split("\n## ", 1)[0]
    assert f"({SCHEMA_VERSION} in\n{__version__}:" in section or f"({SCHEMA_VERSION} in {__version__}:" in section


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_server_info_reports_the_package_version(mode: str) -> None:
    async with Client(build_server(Settings(emulator=True)), mode=mode) as client:
        assert client.server_info is not None
        assert (client.server_info.name, client.server_info.version) == ("polar-orders-mcp", __version__)


def test_server_json_matches_the_package() -> None:
    assert SERVER_JSON["version"] == __version__
    (package,) = SERVER_JSON["packages"]
    assert (package["registryType"], package["identifier"]) == ("pypi", PYPROJECT["project"]["name"])
    assert package["version"] == __version__
    assert package["transport"] == {"type": "stdio"}
    # The registry proves PyPI ownership by finding this marker in the README published with the package.
    assert f"mcp-name: {SERVER_JSON['name']}" in README


def test_server_json_keeps_the_registry_limits() -> None:
    # Limits of the registry's server.schema.json that a publish would otherwise reject late.
    assert re.fullmatch(r"[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+", SERVER_JSON["name"])
    assert 1 <= len(SERVER_JSON["description"]) <= 100
    assert 1 <= len(SERVER_JSON["title"]) <= 100
    assert SERVER_JSON["$schema"].startswith("https://static.modelcontextprotocol.io/schemas/")
    for variable in SERVER_JSON["packages"][0]["environmentVariables"]:
        assert variable["name"] in env_names(), f"{variable['name']} is not a setting"
        assert variable.get("format", "string") in ("string", "number", "boolean", "filepath")
        for key in ("default", "description"):
            assert isinstance(variable.get(key, ""), str)
        if "choices" in variable:
            assert variable.get("default", variable["choices"][0]) in variable["choices"]
    assert {"POLAR_ACCESS_TOKEN"} <= {v["name"] for v in SERVER_JSON["packages"][0]["environmentVariables"]}


def test_the_options_table_lists_every_setting_and_flag() -> None:
    rows = options_table()
    assert sorted({env for _, env in rows}) == sorted(env_names()), "Options rows vs Settings fields"
    help_text = subprocess.run(
        [sys.executable, "-m", "polar_orders_mcp", "serve", "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    specs = re.findall(r"^  (--\S.*?)(?:\s{2,}|$)", help_text, re.M)  # "--approval-ttl SECONDS, --confirm-ttl …"
    flags = {flag for spec in specs for flag in re.findall(r"--[a-z-]+", spec)} - {"--help"}
    assert flags == {flag for flag, _ in rows if flag != "—"}, "Options flags vs `serve --help`"


def test_the_conformance_baseline_lists_only_fixture_scenarios() -> None:
    entries = re.findall(r"^  - (\S+)(.*)$", (ROOT / "conformance" / "expected-failures.yml").read_text(), re.M)
    assert entries
    for scenario, comment in entries:
        # Each entry names the suite's own fixture it needs, in a one-line reason.
        assert re.fullmatch(r"\s+# .*fixture (tool|prompt|resource|template) \S+", comment), scenario


def test_the_image_runs_the_http_transport_as_an_unprivileged_user() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    users = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert "POLAR_MCP_TRANSPORT=http" in dockerfile
    assert "POLAR_MCP_HTTP_TOKEN" not in re.sub(r"#.*", "", dockerfile), "no token baked into the image"


def test_the_install_rows_work_from_inside_the_clone() -> None:
    """The quick start leaves the reader in the clone: `pipx install ./polar-orders-mcp` fails there."""
    section = README.split("\n## Install\n", 1)[1].split("\n## ", 1)[0]
    rows = "\n".join(line for line in section.splitlines() if line.startswith("| "))
    commands = re.findall(r"`((?:pipx|pip|uv tool) install [^`]+)`", rows)
    assert [command.split(" install ")[0] for command in commands] == ["pipx", "uv tool", "pip"]
    for command in commands:
        target = command.rsplit(" ", 1)[1]
        assert (ROOT / target / "pyproject.toml").is_file(), command


def test_every_docker_run_publishes_on_loopback_only() -> None:
    """`-p 8000:8000` publishes on every interface of the host; the docs say to keep it on loopback."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    runs = re.findall(r"docker run .*", README + DEPLOYMENT + dockerfile)
    assert len(runs) >= 2
    for run in runs:
        assert re.findall(r"-p (\S+)", run) == ["127.0.0.1:8000:8000"], run


def test_the_tests_say_why_they_skip_and_the_readme_says_how_not_to() -> None:
    """Browser and database tests skip where Chromium or PostgreSQL are missing: the run says why, and the
    README's try-it section names the command that installs them."""
    makefile = (ROOT / "Makefile").read_text()
    for target in ("test", "test-slow"):
        recipe = makefile.split(f"\n{target}: ", 1)[1].split("\n\n", 1)[0]
        assert " -rfEs " in recipe, target  # failures and errors listed, and why each test skipped
    quick_start = README.split("\n## Try it in two minutes\n", 1)[1].split("\n## ", 1)[0]
    assert "sudo make system-deps" in quick_start


def test_the_readme_says_what_the_server_does_today() -> None:
    """The Inspector's web UI needs the made-up bearer token; --tools defaults to the default toolsets, not all;
    the introduction names more than orders and checkouts."""
    inspector = (DOCS / "clients.md").read_text().split("\n## MCP Inspector\n", 1)[1].split("\n## ", 1)[0]
    assert "Authorization: Bearer" in inspector
    assert ("`--tools`", "`POLAR_MCP_TOOLS`", "all") not in [
        tuple(cell.strip() for cell in line.split("|")[1:4])
        for line in CONFIGURATION.splitlines()
        if line.startswith("|")
    ]
    intro = README.split("\n## ", 1)[0]
    assert all(word in intro for word in ("refund", "subscriptions", "disputes", "ChatGPT", "OAuth"))


def recipe(target: str) -> str:
    """The commands of a Makefile target (its prerequisites line excluded)."""
    makefile = (ROOT / "Makefile").read_text()
    return makefile.split(f"\n{target}: ", 1)[1].split("\n\n", 1)[0].split("\n", 1)[1]


def test_the_lint_tools_are_pinned_and_installed_once() -> None:
    """make lint runs the ruff and mypy of one pinned version each, installed by a stamped step, not on every run."""
    extra = PYPROJECT["project"]["optional-dependencies"]["lint"]
    pins = {re.split(r"[=<>!~\[ ]", spec, maxsplit=1)[0]: spec for spec in extra}
    assert set(pins) == {"ruff", "mypy"}
    assert all(re.fullmatch(r"[a-z]+==[0-9.]+", spec) for spec in pins.values()), pins
    assert "install" not in recipe("lint")
    assert "$(LINT_STAMP)" in (ROOT / "Makefile").read_text().split("\nlint: ", 1)[1].split("\n", 1)[0]


def test_coverage_follows_the_processes_the_tests_start_and_has_a_floor() -> None:
    """Servers, emulators and the demo run in subprocesses: measured there too (branch coverage), combined, and
    gated by a floor in the target CI runs."""
    coverage = PYPROJECT["tool"]["coverage"]
    assert coverage["run"]["branch"] is True and coverage["run"]["parallel"] is True
    assert "subprocess" in coverage["run"]["patch"]
    assert coverage["report"]["fail_under"] >= 90
    assert "coverage combine" in recipe("coverage") and "coverage report" in recipe("coverage")
    assert "\nstep make coverage " in (ROOT / ".ci" / "run").read_text()
