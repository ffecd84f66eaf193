"""stdio mode: the MCP server on stdin/stdout, and beside it the approval console on loopback when needed."""

from __future__ import annotations

import gc
import logging
import socket
from typing import TYPE_CHECKING

import anyio

from polar_orders_mcp.approvals.address import ConsoleAddress, bind_console
from polar_orders_mcp.server.app import ServerParts, build_parts, select_tools
from polar_orders_mcp.server.schema_cache import default_cache_dir
from polar_orders_mcp.server.stdio_wire import run_stdio
from polar_orders_mcp.settings import Settings
from polar_orders_mcp.stderr import say
from polar_orders_mcp.store.precheck import check_store

if TYPE_CHECKING:
    from polar_orders_mcp.approvals.listener import ConsoleListener

log = logging.getLogger(__name__)


def console_needed(settings: Settings) -> bool:
    """The console can be asked to approve: an irreversible tool is served and the policy may use it."""
    irreversible = any(tool.tier == "irreversible" for tool in select_tools(settings))
    return irreversible and settings.confirm in ("auto", "elicit", "console")


def serve_stdio(settings: Settings) -> None:
    console_at, sock = _bind_console(settings)
    # Every launch of a desktop client starts a server: the schemas derived on the first are kept for the next.
    built = build_parts(settings, schema_cache=default_cache_dir(), console_at=console_at)
    listener: ConsoleListener | None = None
    if sock is not None:
        # Imported here: without an approver, a stdio server never loads uvicorn.
        from polar_orders_mcp.approvals.listener import ConsoleListener

        listener = ConsoleListener(built.console, sock, head_timeout=settings.head_timeout)
    elif console_needed(settings) and settings.approver_secrets():
        built.console.serving = False
    # Keep what startup built out of the cyclic collector's full passes (they stalled calls 30-40 ms).
    gc.freeze()
    anyio.run(_run, built, listener)


def _bind_console(settings: Settings) -> tuple[ConsoleAddress | None, socket.socket | None]:
    """The console's socket and address, bound before the server is built so that its instructions name them;
    (None, None) when no console is needed or it cannot listen (said on stderr)."""
    if not console_needed(settings):
        return None, None
    if not settings.approver_secrets():
        log.warning(
            "No approver is configured, so a person can approve charges only in clients that ask "
            "(elicitation). Set POLAR_MCP_APPROVER_TOKEN to enable the approval console."
        )
        return None, None
    try:
        sock, address = bind_console(settings.approvals_port, settings.console_url)
    except OSError as exc:
        log.error(
            "approval console not started: cannot listen on 127.0.0.1:%s (%s)", settings.approvals_port, exc.strerror
        )
        return None, None
    # Printed, not logged: it must show at every log level, and it is no warning unless the port moved.
    say(f"polar-orders-mcp: approval console on {address.url}")
    if (notice := address.notice()) is not None:
        say(f"polar-orders-mcp: WARNING: {notice}.")
    return address, sock


async def _run(built: ServerParts, listener: ConsoleListener | None) -> None:
    # As over HTTP, a store this server cannot use (a newer schema, a missing driver) stops the start: otherwise
    # the first irreversible call would be the first to find out. A SQLite file is read without the database
    # layer (a session that only reads never loads it); a PostgreSQL database is opened, on the serving loop, so
    # that its connections stay for it.
    check_store(built.store_url)
    if not built.store_url.startswith("sqlite:"):
        await (await built.store()).open()
    async with anyio.create_task_group() as group:
        if listener is not None:
            group.start_soon(listener.serve)
        try:
            await run_stdio(built.server)
        finally:
            if listener is not None:
                listener.stop()
