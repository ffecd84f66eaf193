"""A 2026-07-28 client may keep the tool, prompt and template lists for an hour: they change only on a restart."""

from __future__ import annotations

import pytest
from mcp.client import Client

from polar_orders_mcp.server.app import build_server
from polar_orders_mcp.settings import Settings

pytestmark = pytest.mark.anyio


async def test_the_tool_list_may_be_kept_for_an_hour_by_the_client_that_asked() -> None:
    async with Client(build_server(Settings(emulator=True)), mode="auto") as client:
        listed = await client.list_tools()
    assert (listed.ttl_ms, listed.cache_scope) == (3_600_000, "private")


async def test_the_prompt_list_may_be_kept_for_an_hour_by_the_client_that_asked() -> None:
    async with Client(build_server(Settings(emulator=True)), mode="auto") as client:
        listed = await client.list_prompts()
    assert (listed.ttl_ms, listed.cache_scope) == (3_600_000, "private")


async def test_the_resource_template_list_may_be_kept_for_an_hour_by_the_client_that_asked() -> None:
    async with Client(build_server(Settings(emulator=True)), mode="auto") as client:
        listed = await client.list_resource_templates()
    assert (listed.ttl_ms, listed.cache_scope) == (3_600_000, "private")
