"""A server made from cached tool schemas lists and answers exactly as one that derives them from the code."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import anyio
import pytest
from mcp.client import Client

from polar_orders_mcp.server.app import build_parts
from polar_orders_mcp.server.prepare import AFTER_LIST_SECONDS, UNLISTED_AFTER_SECONDS, FirstCallPreparation
from polar_orders_mcp.server.schema_cache import SchemaCache, ToolSchemas, default_cache_dir
from polar_orders_mcp.server.sdk_tools import CheckedTool
from polar_orders_mcp.settings import Settings
from polar_orders_mcp.tools.context import AppState

pytestmark = pytest.mark.anyio

SETTINGS = Settings(emulator=True, emulator_orders=5, toolsets=["all"])


async def _listed(built: Any, mode: str) -> list[dict[str, Any]]:
    async with Client(built.server, mode=mode) as client:
        return [tool.model_dump(by_alias=True) for tool in (await client.list_tools()).tools]


def _underived(built: Any) -> list[str]:
    return [tool.name for tool in built.server._tool_manager.list_tools() if not tool.derived]


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_server_made_from_cached_schemas_lists_exactly_what_a_derived_one_lists(
    mode: str, tmp_path: Path
) -> None:
    build_parts(SETTINGS, schema_cache=tmp_path)  # writes the cache
    assert await _listed(build_parts(SETTINGS, schema_cache=tmp_path), mode) == await _listed(
        build_parts(SETTINGS), mode
    )


def test_a_server_made_from_cached_schemas_derives_no_tool_while_it_starts(tmp_path: Path) -> None:
    build_parts(SETTINGS, schema_cache=tmp_path)
    built = build_parts(SETTINGS, schema_cache=tmp_path)
    assert len(_underived(built)) == len(built.server._tool_manager.list_tools())


async def test_a_tool_made_from_cached_schemas_answers_its_first_call_as_a_derived_one(tmp_path: Path) -> None:
    build_parts(SETTINGS, schema_cache=tmp_path)
    answers = []
    for built in (build_parts(SETTINGS, schema_cache=tmp_path), build_parts(SETTINGS)):
        async with Client(built.server) as client:
            orders = await client.call_tool("list_orders", {"limit": 2})
            wrong = await client.call_tool("get_order", {"order_id": "nope"})
        listed = dict(orders.structured_content or {})
        listed.pop("as_of")  # the server's time of each answer: a second apart on a loaded machine
        answers.append((listed, wrong.content))
    assert answers[0] == answers[1]


async def test_a_server_made_from_cached_schemas_derives_every_tool_once_the_tool_list_is_answered(
    tmp_path: Path,
) -> None:
    build_parts(SETTINGS, schema_cache=tmp_path)
    built = build_parts(SETTINGS, schema_cache=tmp_path)
    async with Client(built.server) as client:
        await client.list_tools()
        await anyio.sleep(AFTER_LIST_SECONDS + 0.5)
        assert _underived(built) == []


async def test_a_server_made_from_cached_schemas_derives_nothing_before_the_tool_list_is_answered(
    tmp_path: Path,
) -> None:
    build_parts(SETTINGS, schema_cache=tmp_path)
    built = build_parts(SETTINGS, schema_cache=tmp_path)
    async with Client(built.server):
        await anyio.sleep(UNLISTED_AFTER_SECONDS / 2)
        assert len(_underived(built)) == len(built.checked_schemas)


async def test_a_server_whose_tools_are_never_listed_derives_them_all_the_same(tmp_path: Path) -> None:
    build_parts(SETTINGS, schema_cache=tmp_path)
    built = build_parts(SETTINGS, schema_cache=tmp_path)
    async with Client(built.server):
        await anyio.sleep(UNLISTED_AFTER_SECONDS + 0.5)
        assert _underived(built) == []


def test_the_schemas_of_other_code_are_never_read(tmp_path: Path) -> None:
    written = SchemaCache(tmp_path, key="before")
    written.put("tools.get_order", ToolSchemas({"type": "object"}, None, {"type": "object"}))
    written.save()
    assert SchemaCache(tmp_path, key="after").get("tools.get_order") is None


def test_an_unreadable_cache_costs_only_the_derivation(tmp_path: Path) -> None:
    build_parts(SETTINGS, schema_cache=tmp_path)
    (cached,) = tmp_path.glob("tool-schemas-*.json")
    cached.write_text("{not json")
    built = build_parts(SETTINGS, schema_cache=tmp_path)
    assert _underived(built) == []


async def test_prompts_made_from_cached_arguments_list_and_render_as_derived_ones(tmp_path: Path) -> None:
    build_parts(SETTINGS, schema_cache=tmp_path)
    seen = []
    for built in (build_parts(SETTINGS, schema_cache=tmp_path), build_parts(SETTINGS)):
        async with Client(built.server) as client:
            listed = [prompt.model_dump() for prompt in (await client.list_prompts()).prompts]
            rendered = await client.get_prompt("refund_order", {"order_id": "abc", "reason": "duplicate"})
            try:
                await client.get_prompt("fix_billing_and_invoice", {"order_id": "x" * 65})
                refused = ""
            except Exception as exc:  # the argument check's error, whichever way it travels
                refused = str(exc)
        seen.append((listed, rendered.model_dump(), refused))
    assert seen[0] == seen[1]


def test_without_a_home_directory_a_server_goes_without_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.delenv("HOME")
    monkeypatch.setattr("pwd.getpwuid", lambda uid: (_ for _ in ()).throw(KeyError(uid)))
    assert default_cache_dir() is None


async def test_the_preparation_waits_while_a_request_is_being_answered() -> None:
    derived: list[str] = []

    class Tool:
        def derive_now(self) -> None:
            derived.append("derived")

    preparation = FirstCallPreparation([cast(CheckedTool, Tool())], connect=False)
    release = anyio.Event()

    async def slow_call(_: Any) -> None:
        await release.wait()

    async with anyio.create_task_group() as group:
        group.start_soon(preparation.run, cast(AppState, None))
        group.start_soon(preparation, cast(Any, SimpleNamespace(method="tools/call")), slow_call)
        await anyio.sleep(UNLISTED_AFTER_SECONDS + AFTER_LIST_SECONDS + 0.2)
        during = list(derived)
        release.set()
        await anyio.sleep(0.2)
    assert (during, derived) == ([], ["derived"])


async def test_a_tampered_cache_changes_what_is_listed_never_what_is_accepted(tmp_path: Path) -> None:
    """Someone who can write the cache can make the list say anything; the arguments are still checked by the
    tool's own model, derived from the code: a hostile id is refused as by a server that never read a cache."""

    build_parts(SETTINGS, schema_cache=tmp_path)
    (cached,) = tmp_path.glob("tool-schemas-*.json")
    entries = json.loads(cached.read_text())
    permissive = {"type": "object", "additionalProperties": True}
    for entry in entries.values():
        if isinstance(entry, dict) and "parameters" in entry:
            entry["parameters"], entry["explained"] = permissive, permissive
    cached.write_text(json.dumps(entries))
    hostile = {"order_id": "../../v1/refunds/", "extra": 1}
    async with Client(build_parts(SETTINGS, schema_cache=tmp_path).server) as client:
        listed = next(t for t in (await client.list_tools()).tools if t.name == "get_order")
        answer = await client.call_tool("get_order", hostile)
    assert listed.input_schema == permissive  # what a tampered cache can do
    said = answer.content[0].text  # type: ignore[union-attr]
    assert answer.is_error and "Unknown argument extra." in said  # what it cannot
    assert 'Argument order_id ("../../v1/refunds/")' in said and said.endswith(
        "Nothing was done: call get_order again with this fixed."
    )
