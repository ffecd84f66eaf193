"""The store's directory is its owner's alone: the default one always, any level the server makes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from polar_orders_mcp.server.app import store_provider
from polar_orders_mcp.settings import Settings, default_state_dir

pytestmark = pytest.mark.anyio


def mode(path: Path) -> str:
    return oct(path.stat().st_mode & 0o777)


async def test_the_default_state_directory_is_made_and_kept_0700(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("POLAR_MCP_STATE_DIR", raising=False)
    os.umask(old := os.umask(0o022))
    settings = Settings(emulator=True)
    default = default_state_dir()
    default.mkdir(parents=True, mode=0o755)  # made earlier, by an older version or by hand, readable by all
    default.chmod(0o755)
    store = await store_provider(settings)()
    await store.list_approvals(states=["pending"])  # opens the database
    await store.close()
    assert (mode(default), mode(default / "emulator")) == ("0o700", "0o700")
    assert mode(default / "emulator" / "state.db") == "0o600"
    assert mode(tmp_path / "xdg") == oct(0o777 & ~old)  # not the server's own: left as it was


async def test_a_directory_the_operator_named_is_left_as_set_and_new_levels_are_0700(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    store = await store_provider(Settings(emulator=True, state_dir=shared / "a" / "b"))()
    await store.close()
    assert (mode(shared), mode(shared / "a"), mode(shared / "a" / "b")) == ("0o755", "0o700", "0o700")
