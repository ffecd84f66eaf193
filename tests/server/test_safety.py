"""Tool selection, read-only mode, the spending cap and the audit log."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp.client import Client

from polar_orders_mcp.emulator.app import create_app
from polar_orders_mcp.server.app import build_server, select_tools
from polar_orders_mcp.settings import Settings
from polar_orders_mcp.tools.registry import ALL_TOOLS
from tests.tools.conftest import fail

pytestmark = pytest.mark.anyio


def names(**settings: Any) -> set[str]:
    return {tool.name for tool in select_tools(Settings(emulator=True, **settings))}


def test_read_only_serves_only_read_tools_and_wins_over_everything() -> None:
    reads = {t.name for t in ALL_TOOLS if t.tier == "read"}
    assert names(read_only=True) == reads
    assert names(read_only=True, tools=["finalize_order", "get_order"]) == {"get_order"}
    assert names(read_only=True, toolsets=["checkouts"]) == {
        t.name for t in ALL_TOOLS if t.tier == "read" and t.toolset == "checkouts"
    }


def test_tools_toolsets_and_exclusions_select_by_name_and_group() -> None:
    assert names(tools=["get_order", "list_orders"]) == {"get_order", "list_orders"}
    assert names(toolsets=["customers"]) == {"find_customers", "get_customer", "list_products"}
    assert "finalize_order" not in names(exclude_tools=["finalize_order"])
    assert names(toolsets=["orders"], exclude_tools=["export_orders"]) == {
        t.name for t in ALL_TOOLS if t.toolset == "orders" and t.name != "export_orders"
    }


@pytest.mark.parametrize("option", ["tools", "exclude_tools", "toolsets"])
def test_unknown_names_are_refused_with_the_known_ones(option: str) -> None:
    with pytest.raises(ValueError, match=r"unknown charge_everything\. Known:"):
        select_tools(Settings(emulator=True, **{option: ["charge_everything"]}))


async def test_a_read_only_server_does_not_even_list_write_tools() -> None:
    emulator = create_app(orders=5)
    server = build_server(Settings(emulator=True, read_only=True), transport=httpx2.ASGITransport(app=emulator))
    async with Client(server) as client:
        listed = {t.name for t in (await client.list_tools()).tools}
        result = await client.call_tool("finalize_order", {"order_id": emulator.state.emulator.seed_info.paid_order_id})
    assert "finalize_order" not in listed and "get_order" in listed
    assert result.is_error


async def test_audit_log_records_polars_error_code(tmp_path: Path) -> None:
    emulator = create_app(orders=5)
    seed = emulator.state.emulator.seed_info
    log_file = tmp_path / "audit.jsonl"
    server = build_server(
        Settings(emulator=True, audit_log=str(log_file), confirm="off"), transport=httpx2.ASGITransport(app=emulator)
    )
    async with Client(server) as client:
        await fail(
            client,
            "create_order",
            {"customer_id": seed.customers["good_card"], "product_id": seed.products["recurring"]},
        )
    entry = json.loads(log_file.read_text())
    assert entry["outcome"] == "polar_error" and entry["status"] == 422 and entry["error_code"]


@pytest.mark.parametrize(
    ("mode", "said"),
    [
        ("off", "run WITHOUT a person's approval"),
        ("relay", "the model receives the confirmation token and can pass it back by itself"),
        ("token", "the model receives the confirmation token and can pass it back by itself"),
    ],
)
def test_off_and_relay_warn_at_start(caplog: pytest.LogCaptureFixture, mode: str, said: str) -> None:
    with caplog.at_level(logging.WARNING):
        build_server(
            Settings(emulator=True, confirm=mode), transport=httpx2.MockTransport(lambda r: httpx2.Response(500))
        )
    assert said in caplog.text


def test_the_default_policy_does_not_warn(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        build_server(Settings(emulator=True), transport=httpx2.MockTransport(lambda r: httpx2.Response(500)))
    assert "approval" not in caplog.text


@pytest.mark.parametrize(
    ("option", "given", "said"),
    [
        ("tools", ["list_order", "zzz"], "--tools: unknown list_order (did you mean list_orders?), zzz. Known: "),
        ("exclude_tools", ["finalise_order"], "unknown finalise_order (did you mean finalize_order?)."),
        ("toolsets", ["refund"], "--toolsets: unknown refund (did you mean refunds?). Known:"),
    ],
)
def test_a_mistyped_tool_or_toolset_is_named_with_the_likely_one(option: str, given: list[str], said: str) -> None:
    with pytest.raises(ValueError, match=re.escape(said)):
        select_tools(Settings(emulator=True, **{option: given}))


@pytest.mark.parametrize(
    ("confirm", "warned"), [("off", "--confirm off"), ("relay", "--confirm relay"), ("auto", None)]
)
async def test_a_policy_that_asks_no_one_is_told_to_the_client_not_only_to_stderr(
    confirm: str, warned: str | None
) -> None:
    """Desktop clients hide stderr: the warning is in the instructions the client reads at the start."""
    server = build_server(Settings(emulator=True, confirm=confirm))
    async with Client(server, mode="legacy") as client:
        instructions = client.instructions or ""
    if warned is None:
        assert "WARNING" not in instructions
    else:
        assert f"WARNING, tell the user: this server runs with {warned}" in instructions
