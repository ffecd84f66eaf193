"""Smoke-test a running streamable-HTTP server with the standard library only: handshake, tools, one call.

usage: python http_smoke.py URL EXPECTED_VERSION   (URL like http://127.0.0.1:8000/mcp)
"""

from __future__ import annotations

import json
import sys
import urllib.request
from typing import Any

PROTOCOL_VERSION = "2025-11-25"


def post(url: str, message: dict[str, Any], session: str | None) -> tuple[dict[str, Any] | None, str | None]:
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    if session:
        headers |= {"Mcp-Session-Id": session, "MCP-Protocol-Version": PROTOCOL_VERSION}
    request = urllib.request.Request(url, data=json.dumps(message).encode(), headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        body = response.read().decode()
        session = response.headers.get("Mcp-Session-Id", session)
        if not body.strip():
            return None, session
        if response.headers.get("Content-Type", "").startswith("text/event-stream"):
            # One SSE event per message; the response is the one carrying our id.
            for line in body.splitlines():
                if line.startswith("data:"):
                    data = json.loads(line[5:])
                    if data.get("id") == message.get("id"):
                        return data, session
            raise SystemExit(f"no response to {message['method']} in the event stream: {body[:300]}")
        return json.loads(body), session


def result(reply: dict[str, Any] | None, method: str) -> dict[str, Any]:
    if reply is None or "result" not in reply:
        raise SystemExit(f"{method} failed: {reply}")
    return dict(reply["result"])


def main(url: str, version: str) -> None:
    init, session = post(
        url,
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "dist-check", "version": "1"},
            },
        },
        None,
    )
    info = result(init, "initialize")["serverInfo"]
    if info.get("version") != version:
        raise SystemExit(f"serverInfo.version is {info.get('version')!r}, expected {version!r}")
    post(url, {"jsonrpc": "2.0", "method": "notifications/initialized"}, session)
    tools = result(post(url, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, session)[0], "tools/list")["tools"]
    names = {tool["name"] for tool in tools}
    if "list_orders" not in names:
        raise SystemExit(f"list_orders is not served: {sorted(names)}")
    call = result(
        post(
            url,
            {
                "jsonrpc": "2.0",
                "id": 3,
                "method": "tools/call",
                "params": {"name": "list_orders", "arguments": {"limit": 2}},
            },
            session,
        )[0],
        "tools/call",
    )
    if call.get("isError") or not call.get("structuredContent"):
        raise SystemExit(f"list_orders failed: {json.dumps(call)[:500]}")
    print(f"  http: serverInfo {info['name']} {info['version']}, {len(tools)} tools, list_orders answered")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2])
