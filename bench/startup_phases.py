"""Where a cold start goes, phase by phase, measured inside one fresh process; prints JSON.

`python -m bench.startup_phases ours|floor`. The benchmark runs it several times, each in a new
interpreter, to show what our server does beyond the floor before it can answer `tools/list`.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any


def _ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000


def ours() -> dict[str, float]:
    phases: dict[str, float] = {}
    t = time.perf_counter()
    from mcp.server.mcpserver import MCPServer  # noqa: F401  # the SDK: the floor pays this too

    phases["import mcp (floor pays it too)"] = _ms(t)
    t = time.perf_counter()
    import polar_orders_mcp.cli  # noqa: F401
    from polar_orders_mcp.server.app import build_server
    from polar_orders_mcp.settings import Settings

    phases["import polar_orders_mcp"] = _ms(t)
    t = time.perf_counter()
    settings = Settings()
    phases["Settings()"] = _ms(t)
    t = time.perf_counter()
    try:
        from polar_orders_mcp.server.app import build_parts
        from polar_orders_mcp.server.schema_cache import default_cache_dir
    except ImportError:  # a tree from before the schema cache
        server = build_server(settings)
    else:  # as `serve` over stdio builds it: the tool schemas from the cache the warm-up spawn wrote
        server = build_parts(settings, schema_cache=default_cache_dir()).server
    phases["build_server (tool registration in the SDK)"] = _ms(t)
    phases.update(_list_tools(server))
    phases.update(_sdk_registration_split())
    return phases


def _list_tools(server: Any) -> dict[str, float]:
    import anyio
    import mcp_types

    t = time.perf_counter()
    tools = anyio.run(server.list_tools)
    mcp_types.ListToolsResult(tools=tools).model_dump_json(by_alias=True, exclude_none=True)
    return {"tools/list (build and serialize)": _ms(t)}


def _sdk_registration_split() -> dict[str, float]:
    """The SDK's own work per tool, registered again (warm): argument models vs output schemas."""
    from mcp.server.mcpserver.tools import Tool as SdkTool

    from polar_orders_mcp.tools.registry import ALL_TOOLS

    def register(structured: bool) -> float:
        t = time.perf_counter()
        for tool in ALL_TOOLS:
            SdkTool.from_function(tool.fn, name=tool.name, structured_output=structured)
        return _ms(t)

    unstructured = register(False)
    structured = register(True)
    return {
        "  of which SDK: argument models and input schemas (warm, all tools)": unstructured,
        "  of which SDK: output schemas (warm, all tools)": structured - unstructured,
    }


def floor() -> dict[str, float]:
    phases: dict[str, float] = {}
    t = time.perf_counter()
    from mcp.server import MCPServer

    phases["import mcp (floor pays it too)"] = _ms(t)
    t = time.perf_counter()
    server = MCPServer("floor")

    @server.tool()
    def echo(text: str) -> str:
        """Return the text unchanged."""
        return text

    phases["build_server (tool registration in the SDK)"] = _ms(t)
    phases.update(_list_tools(server))
    return phases


if __name__ == "__main__":
    os.environ.setdefault("POLAR_ACCESS_TOKEN", "polar_oat_emulator_full_access")
    print(json.dumps(ours() if sys.argv[1:] == ["ours"] else floor()))
