"""Receipts, invoices and the CSV export through the MCP protocol."""

from __future__ import annotations

import csv
import io
from typing import Any

import mcp_types as types
import pytest
from mcp.client import Client
from mcp.server.mcpserver import MCPServer

from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState
from polar_orders_mcp.tools import export
from tests.tools.conftest import call, fail

pytestmark = pytest.mark.anyio


async def test_receipt_of_a_paid_order(server: MCPServer[Any], seed: SeedInfo, mode: str) -> None:
    async with Client(server, mode=mode) as client:
        receipt = await call(client, "get_receipt", {"order_id": seed.paid_order_id})
    assert receipt["state"] == "ready"
    assert receipt["url"].startswith("http")


async def test_receipt_still_rendering_is_waited_for(make_server: Any, seed: SeedInfo, state: EmulatorState) -> None:
    order_id = seed.draft_orders["good_card"]
    async with Client(make_server(confirm="off")) as client:
        await call(client, "finalize_order", {"order_id": order_id})
        assert state.store.order(order_id).receipt_polls_left > 0  # Polar answers 202 at first
        receipt = await call(client, "get_receipt", {"order_id": order_id})
    assert receipt["state"] == "ready"


async def test_receipt_of_an_unpaid_order_is_a_clear_error(server: MCPServer[Any], seed: SeedInfo) -> None:
    async with Client(server) as client:
        message = await fail(client, "get_receipt", {"order_id": seed.draft_orders["good_card"]})
    assert "ReceiptNotAllocated" in message


async def test_an_invoice_is_generated_at_once_and_regenerated_on_request(
    server: MCPServer[Any], seed: SeedInfo, state: EmulatorState, mode: str
) -> None:
    order_id = seed.paid_order_id
    async with Client(server, mode=mode) as client:
        missing = await fail(client, "get_invoice", {"order_id": order_id})
        assert "InvoiceDoesNotExist" in missing
        done = await call(client, "generate_invoice", {"order_id": order_id, "wait_seconds": 0})
        assert done["status"] == "requested"
        assert done["customer_supplied"]["billing_name"]
        invoice = await call(client, "get_invoice", {"order_id": order_id})
        again = await call(client, "generate_invoice", {"order_id": order_id})
    assert invoice["url"].startswith("http")
    assert state.store.order(order_id).is_invoice_generated
    assert again["status"] == "ready"  # the invoice exists, and its details have not changed
    assert again["invoice_number"] == state.store.order(order_id).invoice_number


async def test_invoice_of_a_draft_is_refused(server: MCPServer[Any], seed: SeedInfo) -> None:
    async with Client(server) as client:
        message = await fail(client, "generate_invoice", {"order_id": seed.draft_orders["good_card"]})
    assert "No invoice was generated" in message and "draft" in message


async def test_export_returns_csv_as_an_embedded_resource(server: MCPServer[Any], mode: str) -> None:
    async with Client(server, mode=mode) as client:
        result = await client.call_tool("export_orders", {"columns": ["email", "status", "total_amount"]})
    assert not result.is_error
    summary = result.structured_content
    assert summary is not None
    resources = [c for c in result.content if isinstance(c, types.EmbeddedResource)]
    assert len(resources) == 1
    contents = resources[0].resource
    assert isinstance(contents, types.TextResourceContents)
    assert contents.mime_type == "text/csv"
    rows = list(csv.DictReader(io.StringIO(contents.text)))
    assert len(rows) == summary["row_count"] == summary["rows_included"] >= 40
    assert summary["truncated"] is False
    assert list(rows[0]) == ["Email", "Status", "Total"]  # Polar's own column headers
    assert "." in rows[0]["Total"]  # major units


async def test_export_is_cut_with_a_note_when_too_big(server: MCPServer[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export, "MAX_CSV_BYTES", 600)
    async with Client(server) as client:
        result = await call(client, "export_orders", {})
    assert result["truncated"] is True
    assert 0 < result["rows_included"] < result["row_count"]
    assert "Narrow" in result["note"]


async def test_export_cleans_only_the_rows_it_returns(server: MCPServer[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    cleaned: list[str] = []
    clean_record = export.clean_record

    def counted(record: str) -> str:
        cleaned.append(record)
        return clean_record(record)

    monkeypatch.setattr(export, "MAX_CSV_BYTES", 600)
    monkeypatch.setattr(export, "clean_record", counted)
    async with Client(server) as client:
        result = await call(client, "export_orders", {})
    # The header, the rows returned, and the first row that did not fit (its cleaned size decided the cut).
    assert (len(cleaned), result["truncated"]) == (result["rows_included"] + 2, True)


async def test_export_rejects_an_unknown_timezone(server: MCPServer[Any]) -> None:
    async with Client(server) as client:
        message = await fail(client, "export_orders", {"timezone": "Mars/Olympus"})
    assert "Unknown timezone" in message


def test_csv_records_keep_quoted_newlines_together() -> None:
    splitter = export.CsvRecords()
    records = splitter.feed('a,b\n"x\ny",2\n"unfinished') + splitter.feed(' "" quote",3\nlast,4')
    records += splitter.close()
    assert records == ["a,b\n", '"x\ny",2\n', '"unfinished "" quote",3\n', "last,4\n"]


def test_csv_records_skipped_are_counted_as_feed_would_split_them() -> None:
    splitter = export.CsvRecords()
    counts = [splitter.skip('a,b\n"x\ny",2\n"unfinished'), splitter.skip(' "" quote\n",3\nlast,4')]
    assert (counts, splitter.close()) == ([2, 1], ["last,4\n"])


async def test_export_reports_progress_while_streaming(
    server: MCPServer[Any], monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    monkeypatch.setattr(export, "PROGRESS_EVERY", 10)
    seen: list[float] = []

    async def progress(done: float, total: float | None, message: str | None) -> None:
        seen.append(done)

    async with Client(server, mode=mode) as client:
        result = await client.call_tool("export_orders", {}, progress_callback=progress)
    assert not result.is_error
    assert seen and seen == sorted(seen) and seen[0] == 10
