"""Fixtures shared by every test package: the published spec and anyio's backend."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

SPEC_DIR = Path(__file__).resolve().parents[2] / "shared" / "polar-openapi"
SUBSET_SPEC = SPEC_DIR / "2026-10.subset.openapi.json"
# The whole published spec: refunds, subscriptions and disputes are only in this one.
FULL_SPEC = SPEC_DIR / "2026-10.openapi.json"


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


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
    subprocess, keeps its store in this session's temporary directory unless a test says otherwise."""
    import os

    folder = tmp_path_factory.mktemp("state")
    saved = os.environ.get("POLAR_MCP_STATE_DIR")
    os.environ["POLAR_MCP_STATE_DIR"] = str(folder)
    yield folder
    if saved is None:
        os.environ.pop("POLAR_MCP_STATE_DIR", None)
    else:
        os.environ["POLAR_MCP_STATE_DIR"] = saved
