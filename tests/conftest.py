"""Fixtures shared by every test package: the published spec, anyio's backend, a real PostgreSQL."""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from deploy.postgres import Cluster, missing_reason
from sqlalchemy.engine import make_url

SPEC_DIR = Path(__file__).resolve().parents[2] / "shared" / "polar-openapi"
SUBSET_SPEC = SPEC_DIR / "2026-10.subset.openapi.json"
# The whole published spec: refunds, subscriptions and disputes are only in this one.
FULL_SPEC = SPEC_DIR / "2026-10.openapi.json"


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist: unknown when it is not loaded
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """`-n auto` starts two workers per core: a test spends much of its time waiting (on the store's
    database thread, on a subprocess, a browser, a socket), so one worker per core leaves a third of
    the machine idle. PYTEST_XDIST_AUTO_NUM_WORKERS still decides when set."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return 2 * cores


# What `make test` leaves to `make test-slow` (CI runs both): runs of several processes (command-line runs of
# the audit included), of a real browser, of hundreds of connections or racing acts, of the property tests, and
# the benchmark and soak smoke runs (marked in their own modules). Each starts
# processes or drives hundreds of calls, and together they took more than half of the suite's time on 2 cores.
SLOW = (
    "tests/properties/test_no_unconfirmed_effects.py",
    "tests/properties/test_hostile_ids.py",
    "tests/properties/test_secrets_never_leak.py",
    "tests/replicas/test_replicas.py",
    "tests/reliability/test_listeners.py",
    "tests/approvals/test_console_browser.py",
    "tests/approvals/test_passkeys_browser.py",
    "tests/approvals/test_mandates_browser.py",
    "tests/oauth/test_browser.py",
    "tests/approvals/test_console_address.py",
    "tests/approvals/test_receipts.py",
    "tests/approvals/test_audit_files.py",
    "tests/approvals/test_audit.py",
    "tests/approvals/test_one_act_per_target.py",
    "tests/reliability/test_head_timeout.py",
    "tests/reliability/test_body_timeout.py",
    "tests/store/test_sql_store.py::test_two_processes_sharing_one_database_redeem_each_approval_once",
    "tests/oauth/test_external_idp.py",
    "tests/oauth/test_external_console.py",
    "tests/oauth/test_external_server.py",
    "tests/approvals/test_audit_evidence.py",
    "tests/reliability/test_http_load.py",
    "tests/reliability/test_shutdown.py",
    "tests/server/test_lifecycle.py::test_sigterm_stops_the_http_server_with_exit_code_0",
    "tests/server/test_debug_logs.py",
    "tests/test_cli.py::test_a_port_in_use_is_named_before_anything_says_serving",
    "tests/test_cli.py::test_a_selection_of_no_tools_is_refused_at_start",
    "tests/test_cli.py::test_an_unknown_tool_name_is_refused_naming_the_flag_or_variable_that_gave_it",
    "tests/test_cli.py::test_an_http_server_whose_database_cannot_be_reached_does_not_start",
    "tests/test_cli.py::test_a_stdio_server_on_a_store_of_a_newer_version_does_not_start",
    "tests/test_cli.py::test_a_postgresql_url_without_the_driver_names_the_extra_at_start",
    "tests/server/test_stdio.py::test_the_stdio_servers_own_approval_console_approves_a_charge",
    "tests/approvals/test_sign_in_slowdown.py::test_300_wrong_guesses_never_lock_out_the_right_secret",
    "tests/approvals/test_sign_in_oracle.py::test_a_guesser_that_waits_for_each_answer_pays_every_delay",
    "tests/emulator/test_seed.py::test_100k_orders_build_and_serve_quickly",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid.startswith(SLOW):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session", autouse=True)
def own_state_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A server given no --state-dir keeps its store in the per-user state directory: point that at a
    temporary one for the run (server processes inherit it), so no test reads, writes or upgrades the
    store of whoever runs the tests; likewise the per-user cache directory (a stdio server's tool schemas)."""
    saved = {name: os.environ.get(name) for name in ("XDG_STATE_HOME", "XDG_CACHE_HOME")}
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("state-home"))
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache-home"))
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def spec() -> dict[str, Any]:
    """Polar's published OpenAPI spec, read from ../shared/ beside the checkout."""
    if not SUBSET_SPEC.exists():
        pytest.skip(f"Polar's OpenAPI spec is not at {SUBSET_SPEC}: put ../shared/ beside the checkout")
    return json.loads(SUBSET_SPEC.read_text())


@pytest.fixture(scope="session")
def full_spec() -> dict[str, Any]:
    """Polar's whole published OpenAPI spec (the subset lacks refunds, subscriptions and disputes)."""
    if not FULL_SPEC.exists():
        pytest.skip(f"Polar's full OpenAPI spec is not at {FULL_SPEC}: put ../shared/ beside the checkout")
    return json.loads(FULL_SPEC.read_text())


@pytest.fixture(autouse=True, scope="session")
def private_state_dir(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """No test touches the user's own state directory: every server the tests start, in process or as a
    subprocess, keeps its store under this session's temporary directory (one per Polar server, as the
    default is) unless a test says otherwise."""
    import os

    folder = tmp_path_factory.mktemp("state")
    saved = {name: os.environ.pop(name, None) for name in ("POLAR_MCP_STATE_DIR", "XDG_STATE_HOME")}
    os.environ["XDG_STATE_HOME"] = str(folder)
    yield folder
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(autouse=True, scope="session")
def every_toolset() -> Any:
    """Servers the tests start serve every toolset (POLAR_MCP_TOOLSETS=all, inherited by server
    processes); the tests of the default selection pass their own."""
    saved = os.environ.get("POLAR_MCP_TOOLSETS")
    os.environ["POLAR_MCP_TOOLSETS"] = "all"
    yield
    if saved is None:
        os.environ.pop("POLAR_MCP_TOOLSETS", None)
    else:
        os.environ["POLAR_MCP_TOOLSETS"] = saved


TEST_DATABASE_ENV = "POLAR_MCP_TEST_DATABASE_URL"


class Postgres:
    """A PostgreSQL server the tests make fresh databases in: a throwaway cluster, or the one at
    POLAR_MCP_TEST_DATABASE_URL (its user must be allowed to create databases)."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self._made = itertools.count(1)

    def new_database(self) -> str:
        """The URL of a new, empty database."""
        name = f"pom_test_{os.getpid()}_{next(self._made)}_{secrets.token_hex(3)}"

        import asyncpg

        async def create() -> None:
            connection = await asyncpg.connect(self.admin_url)
            try:
                await connection.execute(f'CREATE DATABASE "{name}"')
            finally:
                await connection.close()

        # In a thread of its own: the caller may be inside a running event loop.
        with concurrent.futures.ThreadPoolExecutor(1) as worker:
            worker.submit(asyncio.run, create()).result(timeout=60)
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A real PostgreSQL for the session. Skipped where none can be had, saying why; a failure under CI."""
    given = os.environ.get(TEST_DATABASE_ENV)
    if given:
        yield Postgres(given)
        return
    reason = missing_reason()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs PostgreSQL for the database tests: {reason}")
        pytest.skip(f"{reason}, or set {TEST_DATABASE_ENV} to a server where databases may be created")
    with Cluster() as cluster:
        yield Postgres(cluster.url)
