"""Tool arguments: closed schemas, unknown names refused with the valid ones, errors written for an agent."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx2
import pytest
from mcp.client import Client
from mcp.server.mcpserver import MCPServer

from polar_orders_mcp.server.app import build_server
from polar_orders_mcp.settings import Settings
from polar_orders_mcp.tools.registry import ALL_TOOLS, CUSTOMER_TOOLS
from tests.tools.conftest import call, fail

pytestmark = pytest.mark.anyio


@pytest.fixture
def make_server(emulator: Any) -> Callable[..., MCPServer[Any]]:
    def make(**settings: Any) -> MCPServer[Any]:
        return build_server(Settings(emulator=True, **settings), transport=httpx2.ASGITransport(app=emulator))

    return make


@pytest.fixture
def server(make_server: Callable[..., MCPServer[Any]]) -> MCPServer[Any]:
    return make_server()


@pytest.fixture
def state(emulator: Any) -> Any:
    return emulator.state.emulator


@pytest.fixture
def seed(state: Any) -> Any:
    return state.seed_info


@pytest.fixture(params=["auto", "legacy"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


UUID = "8f14e45f-ceea-4e7a-9c2b-3d5e6f708192"
LIST_ORDERS_ARGS = (
    "customer_id, product_id, checkout_id, subscription_id, "
    "status, created_after, created_before, metadata, sorting, page, limit, fields, detail"
)


def _objects(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """Every object schema inside `schema` that lists properties, the root included."""
    found = [schema] if "properties" in schema else []
    for key in ("properties", "$defs"):
        for sub in schema.get(key, {}).values():
            found += _objects(sub)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            found += _objects(schema[key])
    for sub in schema.get("anyOf", []):
        found += _objects(sub)
    return found


async def test_every_input_schema_is_closed(make_server: Any, seed: Any, mode: str) -> None:
    for server in (make_server(), make_server(customer_session="polar_cst_" + "x" * 40)):
        async with Client(server, mode=mode) as client:
            tools = (await client.list_tools()).tools
        assert tools
        for tool in tools:
            for obj in _objects(tool.input_schema):
                assert obj.get("additionalProperties") is False, (tool.name, obj)
    assert len(ALL_TOOLS) + len(CUSTOMER_TOOLS) > 20


async def test_ids_are_advertised_by_name_and_still_checked_by_form(make_server: Any) -> None:
    """An input id is a plain string in the tool list (its name says what it is); the server checks its form."""
    async with Client(make_server()) as client:
        tools = (await client.list_tools()).tools
    listed = json.dumps([t.input_schema for t in tools])
    assert '"uuid"' not in listed and '"order_id": {"type": "string"}' in listed


async def test_a_misspelled_filter_is_an_error_not_unfiltered_data(server: Any, mode: str) -> None:
    async with Client(server, mode=mode) as client:
        message = await fail(client, "list_orders", {"customer_email": "nobody@example.com"})
    assert message == (
        "Error executing tool list_orders: Unknown argument customer_email; did you mean customer_id? To find a "
        "customer by email use find_customers, then pass its id as customer_id. list_orders takes: "
        f"{LIST_ORDERS_ARGS}. Nothing was done: call list_orders again with this fixed."
    )


async def test_an_unknown_date_argument_names_the_real_one(server: Any, mode: str) -> None:
    async with Client(server, mode=mode) as client:
        message = await fail(client, "export_orders", {"start": "yesterday"})
    assert message == (
        "Error executing tool export_orders: Unknown argument start; did you mean created_after? export_orders "
        "takes: status, created_after, created_before, from_day, to_day, product_id, columns, timezone. Nothing "
        "was done: call export_orders again with this fixed."
    )


async def test_the_find_customers_hint_is_only_given_when_that_tool_is_served(make_server: Any, mode: str) -> None:
    async with Client(make_server(tools=["list_orders"]), mode=mode) as client:
        message = await fail(client, "list_orders", {"customer_email": "nobody@example.com"})
    assert message == (
        "Error executing tool list_orders: Unknown argument customer_email; did you mean customer_id? list_orders "
        f"takes: {LIST_ORDERS_ARGS}. Nothing was done: call list_orders again with this fixed."
    )


async def test_values_the_server_resolves_itself_are_unknown_arguments(server: Any, seed: Any, mode: str) -> None:
    order_id = seed.draft_orders["good_card"]
    async with Client(server, mode=mode) as client:
        message = await fail(client, "finalize_order", {"order_id": order_id, "preview": {"amount": 1}})
    assert message == (
        "Error executing tool finalize_order: Unknown argument preview. finalize_order takes: order_id, "
        "payment_method_id, max_amount, max_currency, approval_id. Nothing was done: call finalize_order again with "
        "this fixed."
    )


async def test_an_unknown_field_of_a_nested_object_is_named_with_its_siblings(server: Any, seed: Any) -> None:
    async with Client(server) as client:
        message = await fail(
            client, "update_order", {"order_id": seed.paid_order_id, "billing_address": {"zip": "1", "country": "US"}}
        )
    assert message == (
        "Error executing tool update_order: Unknown argument billing_address.zip. billing_address takes: line1, "
        "line2, postal_code, city, state, country. Nothing was done: call update_order again with this fixed."
    )


async def test_a_bad_uuid_says_what_a_good_one_looks_like(server: Any, mode: str) -> None:
    async with Client(server, mode=mode) as client:
        message = await fail(client, "get_order", {"order_id": f"{UUID}\n"})
    assert message == (
        f'Error executing tool get_order: Argument order_id ("{UUID}\\n") is not a UUID. For example: "{UUID}". '
        "Nothing was done: call get_order again with this fixed."
    )


async def test_a_malformed_email_says_what_a_good_one_looks_like(server: Any, seed: Any) -> None:
    async with Client(server) as client:
        message = await fail(
            client, "create_checkout", {"products": [seed.products["one_time_fixed"]], "customer_email": "bad"}
        )
    assert message == (
        'Error executing tool create_checkout: Argument customer_email ("bad") does not have the expected form. '
        'For example: "jane@example.com". Nothing was done: call create_checkout again with this fixed.'
    )


async def test_several_problems_are_each_explained(server: Any, seed: Any) -> None:
    customer = seed.customers["good_card"]
    async with Client(server) as client:
        message = await fail(
            client, "create_order", {"customer_id": customer, "product_id": "x", "currency": "USD", "amount": -1}
        )
    assert message == (
        f'Error executing tool create_order: Argument product_id ("x") is not a UUID. For example: "{UUID}". '
        "Argument amount (-1) is too small: at least 0. For example: 1 (changes what the customer pays (before "
        "tax): only on the merchant's explicit instruction; off unless the operator enabled it). Argument "
        'currency ("USD") does not have the expected form. '
        'For example: "usd". Nothing was done: call create_order again with this fixed.'
    )
    assert "pydantic" not in message and "validation error" not in message and "[0-9a-fA-F]" not in message


@pytest.mark.parametrize(
    ("tool", "args", "expected"),
    [
        ("get_order", {}, f'Argument order_id is required. For example: "{UUID}".'),
        ("list_orders", {"limit": 500}, "Argument limit (500) is too large: at most 100. For example: 20."),
        ("list_orders", {"page": "two"}, 'Argument page ("two") must be a whole number. For example: 1.'),
        ("list_orders", {"page": 0}, "Argument page (0) is too small: at least 1. For example: 1."),
        (
            "find_customers",
            {"email": "a" * 400},
            f'Argument email ("{"a" * 58}…) is too long: at most 320 characters. Expected: exact.',
        ),
        (
            "list_checkouts",
            {"status": "opn"},
            'Argument status[0] ("opn") must be one of "open", "expired", '
            '"confirmed", "succeeded", "failed". For example: "open".',
        ),
        (
            "export_orders",
            {"created_after": "2026-01-01"},
            'Argument created_after ("2026-01-01") needs a timezone '
            '(Z or an offset such as +02:00). For example: "2026-10-01T00:00:00Z" (inclusive).',
        ),
        ("list_orders", {"metadata": {"crm": 1}}, "Argument metadata.crm (1) must be a string."),
    ],
)
async def test_each_kind_of_bad_value_gets_a_readable_line(
    server: Any, tool: str, args: dict[str, Any], expected: str
) -> None:
    async with Client(server) as client:
        message = await fail(client, tool, args)
    assert message == f"Error executing tool {tool}: {expected} Nothing was done: call {tool} again with this fixed."


async def test_a_credential_is_never_repeated_back_in_an_error(server: Any, seed: Any) -> None:
    secret = "polar_c_" + "é" * 40
    async with Client(server) as client:
        message = await fail(client, "get_checkout_by_secret", {"client_secret": secret})
    assert message == (
        "Error executing tool get_checkout_by_secret: Argument client_secret does not have the expected form. "
        "For example: \"polar_c_…\" (the checkout's client secret (polar_c_...): its payment page's credential). "
        "Nothing was done: call get_checkout_by_secret again with this fixed."
    )


async def test_a_single_string_is_taken_where_a_list_is_expected(server: Any, mode: str) -> None:
    async with Client(server, mode=mode) as client:
        open_only = await call(client, "list_checkouts", {"status": "open"})
        as_list = await call(client, "list_checkouts", {"status": ["open"]})
        as_json = await call(client, "list_checkouts", {"status": '["open", "expired"]'})
        exported = await call(client, "export_orders", {"status": "paid", "columns": "status"})
    assert open_only["items"] and {c["status"] for c in open_only["items"]} == {"open"}
    assert {**open_only, "as_of": None} == {**as_list, "as_of": None}  # two calls: their times may differ
    assert {c["status"] for c in as_json["items"]} == {"open", "expired"}
    assert exported["row_count"] > 0


@pytest.mark.parametrize(
    "arguments",
    [
        {"metadata": {"\ud800": "x"}},
        {"metadata": {"k": "a\udfffb"}},
        {"customer_name": "\ud83d"},
    ],
)
async def test_text_that_is_not_unicode_is_refused_by_name_before_anything_runs(
    server: MCPServer[Any], seed: Any, arguments: dict[str, Any]
) -> None:
    """A raw JSON peer can send a lone surrogate (\\ud800); no UTF-8 text can hold it, so it would fail
    deep inside. It is refused up front, naming the argument."""
    from mcp.server.mcpserver.exceptions import ToolError

    from polar_orders_mcp.server.arguments import check_arguments

    tool = server._tool_manager.get_tool("update_checkout")
    with pytest.raises(ToolError) as refused:
        check_arguments(tool, {"checkout_id": seed.open_checkout_id, **arguments})  # type: ignore[arg-type]
    name = next(iter(arguments))
    assert f"Argument {name} holds text that is not valid Unicode" in str(refused.value)
    assert "Nothing was done" in str(refused.value)


@pytest.mark.parametrize("approval_id", ["apr_short", "apr_" + "x" * 65, "pr1.apr_" + "x" * 24 + ".abc"])
async def test_an_approval_id_of_another_form_is_refused_before_anything_is_read(
    server: Any, seed: Any, state: Any, approval_id: str
) -> None:
    # The store makes ids of 24 characters after apr_, relay tokens carry one and a 43-digit signature: anything
    # else the model passes is not one, and is said so before a preview, a lookup or a request to Polar.
    order_id = seed.draft_orders["good_card"]
    async with Client(server) as client:
        message = await fail(client, "finalize_order", {"order_id": order_id, "approval_id": approval_id})
    assert "approval_id" in message and "Nothing was done" in message, message
    assert state.faults.received("GET", f"/v1/orders/{order_id}") == []
