"""Tool selection, read-only mode, the spending cap and the audit log."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp.client import Client

from polar_orders_mcp.emulator.app import create_app
from polar_orders_mcp.server.app import build_server, select_tools
from polar_orders_mcp.settings import Settings
from polar_orders_mcp.tools.registry import ALL_TOOLS
from tests.tools.conftest import call, fail

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


async def test_max_charge_refuses_before_asking_or_charging() -> None:
    emulator = create_app(orders=5)
    state = emulator.state.emulator
    order_id = state.seed_info.draft_orders["good_card"]
    amount = state.store.order(order_id).total_amount
    server = build_server(Settings(emulator=True, max_charge=amount - 1), transport=httpx2.ASGITransport(app=emulator))
    async with Client(server) as client:
        message = await fail(client, "finalize_order", {"order_id": order_id})
    assert f"Order {order_id} was not charged" in message and "--max-charge" in message
    assert state.store.order(order_id).status == "draft"


async def test_max_charge_allows_what_is_within_it() -> None:
    emulator = create_app(orders=5)
    state = emulator.state.emulator
    order_id = state.seed_info.draft_orders["good_card"]
    amount = state.store.order(order_id).total_amount
    server = build_server(
        Settings(emulator=True, max_charge=amount, confirm="off"), transport=httpx2.ASGITransport(app=emulator)
    )
    async with Client(server) as client:
        await call(client, "finalize_order", {"order_id": order_id})
    assert state.store.order(order_id).status == "paid"


async def test_audit_log_has_one_token_free_line_per_write_or_irreversible_call(tmp_path: Path) -> None:
    emulator = create_app(orders=5)
    seed = emulator.state.emulator.seed_info
    log_file = tmp_path / "audit.jsonl"
    server = build_server(
        Settings(emulator=True, audit_log=str(log_file)), transport=httpx2.ASGITransport(app=emulator)
    )
    order_id = seed.draft_orders["good_card"]
    async with Client(server) as client:
        await call(client, "get_order", {"order_id": order_id})  # a read: not audited
        token = (await call(client, "finalize_order", {"order_id": order_id}))["confirmation_token"]
        await call(client, "finalize_order", {"order_id": order_id, "confirmation_token": token})
        await fail(
            client, "finalize_order", {"order_id": seed.draft_orders["declining_card"], "confirmation_token": token}
        )
        await call(client, "update_order", {"order_id": seed.paid_order_id, "billing_name": "ACME"})
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert [(e["tool"], e["outcome"]) for e in lines] == [
        ("finalize_order", "confirmation_required"),
        ("finalize_order", "ok"),
        ("finalize_order", "refused"),
        ("update_order", "ok"),
    ]
    assert lines[1]["target"] == order_id and lines[1]["result_status"] == "charged"
    assert lines[1]["previewed"]["amount"] > 0 and "4242" in lines[1]["previewed"]["payment_method"]
    assert token not in log_file.read_text()
    assert lines[1]["arguments"]["confirmation_token"] == "<given>"


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


def test_confirm_off_warns_at_start(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        build_server(
            Settings(emulator=True, confirm="off"), transport=httpx2.MockTransport(lambda r: httpx2.Response(500))
        )
    assert "WITHOUT human confirmation" in caplog.text


async def test_audit_log_records_calls_refused_before_acting(tmp_path: Path) -> None:
    emulator = create_app(orders=5)
    seed = emulator.state.emulator.seed_info
    log_file = tmp_path / "audit.jsonl"
    server = build_server(
        Settings(emulator=True, audit_log=str(log_file)), transport=httpx2.ASGITransport(app=emulator)
    )
    async with Client(server) as client:
        await fail(client, "finalize_order", {"order_id": seed.paid_order_id})  # refused by the preview
        await fail(client, "finalize_order", {"order_id": "../etc", "confirmation_token": "pc1.x.y"})  # bad id
        await fail(client, "confirm_checkout", {"client_secret": seed.expired_checkout_client_secret})
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert [(e["tool"], e["outcome"], e["stage"]) for e in lines] == [
        ("finalize_order", "refused", "before acting"),
        ("finalize_order", "refused", "before acting"),
        ("confirm_checkout", "refused", "before acting"),
    ]
    assert lines[0]["target"] == seed.paid_order_id and "not a draft" in lines[0]["reason"]
    assert lines[1]["arguments"]["confirmation_token"] == "<given>"
    assert seed.expired_checkout_client_secret not in log_file.read_text()
    assert lines[2]["arguments"]["client_secret"] == "<given>"
