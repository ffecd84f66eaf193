"""Hostile arguments for every tool: always a clean MCP result, never a crash or a hang, never a strange URL.

Every tool of both registries (organization mode and customer mode) is called with arguments hypothesis
derives from the tool's advertised input schema, mixed with wrong types, missing and extra fields
(including the names of the values the server resolves itself: `api`, `guard`, `preview`, `approval`),
huge strings, odd unicode (zero-width, bidi, NUL, lone surrogates) and path-traversal or injection
strings. Each call must come back as a result, not as an exception from `call_tool`; an error must carry
a readable message rather than the SDK's bare "Error executing tool <name>" of an unexpected exception;
and no call may take longer than CALL_SECONDS. After each call the server still answers a normal read.

The emulator sits behind a recorder of every HTTP request it receives: every path must have one of
the shapes Polar's API has, with no `..`, no percent-encoded dot or slash, no whitespace or control
character. Hostile ids in place of each id parameter must not reach the emulator at all: that half is
in test_hostile_ids.py, on this module's rig.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

import anyio
import mcp_types as types
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy
from mcp.client import Client
from starlette.types import Receive, Scope, Send

from polar_orders_mcp.tools.registry import ALL_TOOLS, CUSTOMER_TOOLS
from tests.properties.conftest import UUID, emulator_parts, is_crash, quiet_emulator, result_text

CALL_SECONDS = 10
SECRET = r"polar_c_[A-Za-z0-9_-]+"
# Every path Polar's API has that the server may send to; anything else is a bug.
PATH_SHAPES = (
    r"/v1/orders/(export)?",
    rf"/v1/orders/{UUID}(/finalize|/invoice|/receipt)?",
    rf"/v1/checkouts/({UUID})?",
    rf"/v1/checkouts/client/{SECRET}(/confirm)?",
    rf"/v1/customers/({UUID}(/payment-methods)?)?",
    rf"/v1/products/({UUID})?",
    r"/v1/customer-sessions/",
    rf"/v1/customer-portal/orders/({UUID}(/invoice|/receipt|/payment-status)?)?",
    r"/v1/refunds/",
    rf"/v1/subscriptions/({UUID})?",
    rf"/v1/disputes/({UUID}(/accept)?)?",
)
NOT_IN_A_PATH = ("..", "%2e", "%2E", "%2f", "%2F", "%5c", "%5C", "%00", "\\")
HOSTILE = (
    "../../v1/customers",
    "..%2F..%2Fv1%2Fcustomers",
    "%2e%2e/",
    "%2e%2e%2f%2e%2e%2fv1",
    "..",
    ".",
    "/",
    "//",
    "..\\..\\v1",
    "'; DROP TABLE orders; --",
    '" OR 1=1 --',
    "{{7*7}}",
    "${7*7}",
    "<script>alert(1)</script>",
    "\x00",
    "a\x00b",
    "\r\n",
    "id\r\nX-Injected: 1",
    "\n",
    "\t",
    " ",
    "",
    "\u200b",
    "\u202e\u2066evil\u2069",
    "\ufeff",
    "\ud800",
    "\U0001d560\U0001d563\U0001d555\U0001d556\U0001d563",
    "\uff4f\uff52\uff44\uff45\uff52",
    "A" * 100_000,
    "?page=2",
    "#fragment",
    "%00",
    "%0d%0a",
    "http://169.254.169.254/latest/meta-data",
    "polar_c_../../v1/orders",
    "polar_c_abc/../../v1/orders",
    "polar_c_" + "A" * 300,
    "polar_c_abc\n",
    "polar_c_%2e%2e",
    "polar_c_abc def",
    "polar_c_\u200babc",
)
EXTRA_KEYS = ("api", "guard", "ctx", "preview", "approval", "confirm", "__proto__", "$ref", "order_id ", "ORDER_ID")
WRONG_TYPES: SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.just(2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
# Control, format (zero-width, bidi), separator, combining and symbol characters.
ODD_TEXT = st.text(st.characters(categories=["Cc", "Cf", "Zs", "Zl", "Zp", "Mn", "So", "Lo"]), max_size=30)
HOSTILE_TEXT: SearchStrategy[Any] = st.one_of(st.sampled_from(HOSTILE), ODD_TEXT)
# 6 examples per tool and mode in `make test`; POLAR_MCP_FUZZ_EXAMPLES=500 in `make test-deep`.
FUZZ = settings(
    max_examples=int(os.environ.get("POLAR_MCP_FUZZ_EXAMPLES", "6")),
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


@dataclass
class Recorder:
    """An ASGI layer in front of the emulator that keeps every request's method, path, raw path and query."""

    app: Any
    seen: list[tuple[str, str, bytes, bytes]] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.seen.append((scope["method"], scope["path"], scope.get("raw_path", b""), scope["query_string"]))
        await self.app(scope, receive, send)

    def check_and_clear(self) -> None:
        for method, path, raw_path, query in self.seen:
            assert any(_fullmatch(shape, path) for shape in PATH_SHAPES), f"unexpected path: {method} {path!r}"
            raw = raw_path.decode("latin-1")
            assert not any(bad in raw or bad in path for bad in NOT_IN_A_PATH), f"suspicious path: {raw!r}"
            assert not any(byte <= 0x20 or byte == 0x7F for byte in raw_path + query), f"raw byte in {raw!r}?{query!r}"
        self.seen.clear()


def _fullmatch(shape: str, path: str) -> bool:
    return re.fullmatch(shape, path) is not None


@dataclass
class Rig:
    """One emulator behind a recorder, an organization-mode and a customer-mode server, a client of each per era."""

    recorder: Recorder
    portal: BlockingPortal
    clients: dict[tuple[str, str], Client]
    schemas: dict[tuple[str, str], dict[str, Any]]
    ids: list[str]
    secrets: list[str]
    probe: dict[str, tuple[str, dict[str, Any]]]  # a normal read per mode, to see the server still answers

    def call(self, mode: str, era: str, tool: str, args: dict[str, Any]) -> types.CallToolResult:
        client = self.clients[(mode, era)]

        async def bounded() -> types.CallToolResult:
            with anyio.fail_after(CALL_SECONDS):
                return await client.call_tool(tool, args)

        try:
            return self.portal.call(bounded)
        except UnicodeEncodeError:
            # A lone surrogate in a key: this client cannot write it as JSON at all, so the case is not
            # one a server can receive from it (a raw JSON peer can: tests/server/test_arguments.py).
            reject()


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    emulator = quiet_emulator()
    state = emulator.state.emulator
    seed = state.seed_info
    session = state.catalog.create_session(customer_id=seed.customers["good_card"]).token
    recorder = Recorder(emulator)
    built = {
        "org": emulator_parts(recorder, audit_log="/dev/null"),
        "customer": emulator_parts(recorder, audit_log="/dev/null", customer_session=session),
    }
    servers = {mode: parts.server for mode, parts in built.items()}
    with ExitStack() as stack:
        portal = stack.enter_context(start_blocking_portal())
        clients = {
            (mode, era): stack.enter_context(portal.wrap_async_context_manager(Client(server, mode=era)))
            for mode, server in servers.items()
            for era in ("auto", "legacy")
        }
        # As the server checks them: the advertised schemas leave out ids' form (format: uuid).
        schemas = {
            (mode, tool.name): built[mode].checked_schemas[tool.name]
            for mode in servers
            for tool in portal.call(clients[(mode, "auto")].list_tools).tools
        }
        ids = [
            *seed.customers.values(),
            *seed.products.values(),
            *seed.draft_orders.values(),
            seed.paid_order_id,
            seed.open_checkout_id,
            *seed.payment_methods.values(),
            seed.discount_id,
        ]
        probe = {
            "org": ("get_order", {"order_id": seed.paid_order_id}),
            "customer": ("get_my_order", {"order_id": seed.paid_order_id}),
        }
        yield Rig(
            recorder,
            portal,
            clients,
            schemas,
            ids,
            [seed.open_checkout_client_secret, seed.expired_checkout_client_secret],
            probe,
        )


def plausible(schema: dict[str, Any], defs: dict[str, Any], rig: Rig) -> SearchStrategy[Any]:
    """A value of the type the schema declares, often a real one (real ids, real secrets)."""
    if "$ref" in schema:
        return plausible(defs[schema["$ref"].rsplit("/", 1)[-1]], defs, rig)
    if "anyOf" in schema:
        return st.one_of(*(plausible(option, defs, rig) for option in schema["anyOf"]))
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "string":
        if schema.get("format") == "uuid":
            return st.sampled_from(rig.ids) | st.uuids().map(str)
        if schema.get("format") == "date-time":
            return st.datetimes(timezones=st.none() | st.just(UTC)).map(lambda moment: moment.isoformat())
        if schema.get("pattern", "").startswith("^polar_c_"):
            return st.sampled_from(rig.secrets) | st.from_regex(schema["pattern"], fullmatch=True)
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True)
        # Free text is where hostile strings pass validation and travel on, into queries and bodies.
        return st.text(max_size=min(schema.get("maxLength", 40), 40)) | HOSTILE_TEXT
    if kind == "integer":
        low, high = schema.get("minimum"), schema.get("maximum")
        return st.integers(None if low is None else low - 2, None if high is None else high + 2)
    if kind == "number":
        return st.floats()
    if kind == "boolean":
        return st.booleans()
    if kind == "array":
        items = plausible(schema.get("items", {}), defs, rig) | HOSTILE_TEXT
        return st.lists(items, max_size=min(schema.get("maxItems", 3) + 1, 5))
    if kind == "object" and "properties" in schema:
        return arguments(schema, defs, rig)
    if kind == "object":
        values = schema.get("additionalProperties")
        inner = plausible(values, defs, rig) if isinstance(values, dict) else st.text(max_size=10)
        return st.dictionaries(st.text(max_size=10) | HOSTILE_TEXT, inner | HOSTILE_TEXT, max_size=3)
    return WRONG_TYPES


@st.composite
def arguments(draw: st.DrawFn, schema: dict[str, Any], defs: dict[str, Any], rig: Rig) -> dict[str, Any]:
    """An arguments object: required fields usually there, optional ones sometimes, extra ones now and then.
    Either every value is plausible, or one of them is hostile, or any of them may be: so that calls get
    past validation too, and hostile values meet the code behind it."""
    required = set(schema.get("required", []))
    names = [name for name in schema.get("properties", {}) if name in required or draw(st.booleans())]
    corrupt = draw(st.sampled_from(["none", "one", "one", "any"]), label="corruption")
    spoiled = draw(st.sampled_from(names)) if names and corrupt == "one" else None
    args: dict[str, Any] = {}
    for name in names:
        sub = schema["properties"][name]
        hostile = name == spoiled or (corrupt == "any" and draw(st.booleans()))
        args[name] = draw(st.one_of(HOSTILE_TEXT, WRONG_TYPES) if hostile else plausible(sub, defs, rig))
    if corrupt != "none" and draw(st.booleans()):
        for name in [n for n in required if n in args and draw(st.booleans())]:
            del args[name]
    extra = draw(
        st.dictionaries(st.sampled_from(EXTRA_KEYS) | st.text(max_size=8), WRONG_TYPES | HOSTILE_TEXT, max_size=2)
    )
    return extra | args


def assert_clean(result: types.CallToolResult, tool: str, args: dict[str, Any]) -> None:
    if result.is_error:
        text = result_text(result)
        assert text.strip(), f"{tool}: an error with no message for {args!r}"
        assert not is_crash(result), f"{tool} crashed on {args!r}: {text!r}"
        assert "Traceback" not in text, text


TOOLS = [("org", tool.name) for tool in ALL_TOOLS] + [("customer", tool.name) for tool in CUSTOMER_TOOLS]


@pytest.mark.parametrize(("mode", "tool"), TOOLS)
def test_generated_arguments_give_a_clean_result(rig: Rig, mode: str, tool: str) -> None:
    schema = rig.schemas[(mode, tool)]

    @FUZZ
    @given(args=arguments(schema, schema.get("$defs", {}), rig), era=st.sampled_from(["auto", "legacy"]))
    def check(args: dict[str, Any], era: str) -> None:
        assert_clean(rig.call(mode, era, tool, args), tool, args)
        probe_tool, probe_args = rig.probe[mode]
        assert not rig.call(mode, era, probe_tool, probe_args).is_error, "the server stopped answering"
        rig.recorder.check_and_clear()

    check()
