"""Write the tool snapshots in tests/schemas/ from the server as it is: `python -m tests.update_schemas`.

Every tool as `tools/list` sends it is public API, and most of it is what the model reads: its title, its
description, its annotations, its input and output schemas (and anything else the server sets on it).
tests/server/test_schema_snapshots.py fails when one drifts from its snapshot. After changing a tool (or adding
one), run this (or `make schemas`) and review the diff of tests/schemas/ like any other change. One file per
tool and mode, so that tools added on different branches do not touch the same file; a description is kept as
its lines, so that a changed sentence shows as a changed line.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import anyio
import mcp_types
from mcp.client import Client

from polar_orders_mcp.server.app import build_server
from polar_orders_mcp.settings import Settings

SNAPSHOTS = Path(__file__).resolve().parent / "schemas"
# The size of the tool list as the server sends it, so that its growth shows in review like a schema change.
SIZES = SNAPSHOTS / "tool_list_bytes.json"
SIZED = {"default": ["default"], "all": ["all"]}
# A customer session is never used to list tools: any well-formed one will do.
MODES = {
    "organization": Settings(emulator=True, toolsets=["all"]),
    "customer": Settings(emulator=True, customer_session="polar_cst_" + "0" * 40),
}
ERAS = ("legacy", "auto")  # the initialize handshake, and the stateless 2026 era


async def _listed(settings: Settings, era: str) -> dict[str, dict[str, Any]]:
    async with Client(build_server(settings), mode=era) as client:
        tools = (await client.list_tools()).tools
    return {tool.name: snapshot(tool) for tool in tools}


def snapshot(tool: mcp_types.Tool) -> dict[str, Any]:
    """The tool as sent (wire names), but for its name (the file's) and with the schemas under input and output."""
    sent = tool.model_dump(mode="json", by_alias=True, exclude_none=True)
    del sent["name"]
    description = sent.pop("description", None)
    schemas = {"input": sent.pop("inputSchema"), "output": sent.pop("outputSchema", None)}
    return {**sent, "description": description.split("\n") if description is not None else None, **schemas}


async def current() -> dict[str, dict[str, Any]]:
    """Path inside tests/schemas/ -> what the file holds, for every tool of every mode."""
    files: dict[str, dict[str, Any]] = {}
    for mode, settings in MODES.items():
        by_era = {era: await _listed(settings, era) for era in ERAS}
        names = set().union(*(set(tools) for tools in by_era.values()))
        for name in sorted(names):
            schemas = {era: tools.get(name) for era, tools in by_era.items()}
            same = all(schema == schemas[ERAS[0]] for schema in schemas.values())
            files[f"{mode}/{name}.json"] = schemas[ERAS[0]] if same else {"eras": schemas}  # type: ignore[dict-item]
    return files


async def sizes() -> dict[str, dict[str, int]]:
    """Bytes of the `tools/list` result (compact JSON, as sent) for the default toolsets and for all of them."""
    found: dict[str, dict[str, int]] = {}
    for name, toolsets in SIZED.items():
        async with Client(build_server(Settings(emulator=True, toolsets=toolsets)), mode="legacy") as client:
            tools = (await client.list_tools()).tools
        outputs = [tool.output_schema for tool in tools if tool.output_schema is not None]
        found[name] = {
            "tools": len(tools),
            "bytes": len(mcp_types.ListToolsResult(tools=tools).model_dump_json(by_alias=True, exclude_none=True)),
            "output_schema_bytes": sum(len(json.dumps(schema, separators=(",", ":"))) for schema in outputs),
        }
    return found


def render(content: dict[str, Any]) -> str:
    return json.dumps(content, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> int:
    files = anyio.run(current)
    for mode in MODES:
        shutil.rmtree(SNAPSHOTS / mode, ignore_errors=True)
    for path, content in files.items():
        target = SNAPSHOTS / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render(content))
    SIZES.write_text(render(anyio.run(sizes)))
    where = SNAPSHOTS.relative_to(Path.cwd())
    print(f"wrote {len(files)} tool snapshots and the tool list's size under {where}/", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
