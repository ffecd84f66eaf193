"""The session-flood scenario: one bearer holder opens many handshake-era sessions and never ends them.

    python -m bench.sessions [--sessions 10000] [--src DIR]

Starts `polar-orders-mcp serve --transport http --emulator` (from DIR/src when given, e.g. an older
checkout, to measure before and after a change), opens SESSIONS sessions with one credential
(initialize + notifications/initialized, never a DELETE), and reports the time taken, how the server
answered, its memory before and after, and whether a newcomer can still open a session: a client
with another credential when the server knows named clients (unless --shared), else one with the
same token. Not part of `make test`: it is load, and takes about a minute per 10,000 sessions.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections import Counter
from pathlib import Path

import httpx2
from tests.reliability.processes import MCP_HEADERS, PROTOCOL_VERSION, child_process, clean_env

FLOOD = "flood-token-0123456789abcdefghij"
OTHER = "other-token-0123456789abcdefghij"
CONCURRENCY = 32


async def open_session(http: httpx2.AsyncClient, url: str, token: str) -> tuple[int, str | None]:
    headers = {**MCP_HEADERS, "Authorization": f"Bearer {token}"}
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "flood", "version": "1"},
        },
    }
    response = await http.post(f"{url}/mcp", json=init, headers=headers)
    session_id = response.headers.get("mcp-session-id")
    if response.status_code == 200 and session_id:
        headers = {**headers, "mcp-session-id": session_id, "mcp-protocol-version": PROTOCOL_VERSION}
        await http.post(f"{url}/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers)
    return response.status_code, session_id


async def flood(url: str, sessions: int) -> tuple[Counter[int], float]:
    answers: Counter[int] = Counter()
    queue = iter(range(sessions))
    limits = httpx2.Limits(max_connections=CONCURRENCY)
    async with httpx2.AsyncClient(timeout=60, limits=limits) as http:

        async def worker() -> None:
            for _ in queue:
                status, _ = await open_session(http, url, FLOOD)
                answers[status] += 1

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return answers, time.monotonic() - started


async def newcomer(url: str, token: str) -> int:
    async with httpx2.AsyncClient(timeout=60) as http:
        status, _ = await open_session(http, url, token)
        return status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--src", type=Path, help="a checkout whose src/ to run the server from")
    parser.add_argument("--shared", action="store_true", help="one token for everyone (POLAR_MCP_HTTP_TOKEN)")
    args = parser.parse_args()
    env = clean_env(POLAR_MCP_HTTP_TOKEN=FLOOD)
    named = not args.shared and (args.src is None or (args.src / "src/polar_orders_mcp/server/identity.py").exists())
    if named:
        env = clean_env(POLAR_MCP_HTTP_TOKENS=f"flood:{FLOOD},other:{OTHER}")
    if args.src is not None:
        env["PYTHONPATH"] = str((args.src / "src").resolve()) + os.pathsep + env.get("PYTHONPATH", "")
    with child_process("serve", "--transport", "http", "--port", "0", "--emulator", env=env) as server:
        before = server.rss_kb()
        answers, elapsed = asyncio.run(flood(server.url, args.sessions))
        after = server.rss_kb()
        other = asyncio.run(newcomer(server.url, OTHER if named else FLOOD))
        same = asyncio.run(newcomer(server.url, FLOOD))
    print(f"server from: {args.src or 'this checkout'} ({'named clients' if named else 'one shared token'})")
    print(f"{args.sessions} session opens by one credential in {elapsed:.1f} s: HTTP answers {dict(answers)}")
    print(f"server RSS: {before / 1024:.0f} MiB before, {after / 1024:.0f} MiB after (+{(after - before) / 1024:.0f})")
    print(
        f"afterwards a newcomer ({'another credential' if named else 'the same token'}) gets HTTP {other}; "
        f"the flooding credential gets HTTP {same}"
    )


if __name__ == "__main__":
    sys.exit(main())
