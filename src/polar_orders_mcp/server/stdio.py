"""stdio mode: the MCP server on stdin/stdout, and beside it the approval console on loopback when needed."""

from __future__ import annotations

import gc
import logging
from typing import TYPE_CHECKING

import anyio

from polar_orders_mcp.server.app import Built, build_parts, select_tools
from polar_orders_mcp.server.schema_cache import default_cache_dir
from polar_orders_mcp.settings import Settings

if TYPE_CHECKING:
    from polar_orders_mcp.approvals.listener import ConsoleListener

log = logging.getLogger(__name__)


def console_needed(settings: Settings) -> bool:
    """The console can be asked to approve: an irreversible tool is served and the policy may use it."""
    irreversible = any(tool.tier == "irreversible" for tool in select_tools(settings))
    return irreversible and settings.confirm in ("auto", "elicit", "console")


def serve_stdio(settings: Settings) -> None:
    # Every launch of a desktop client starts a server: the schemas derived on the first are kept for the next.
    built = build_parts(settings, schema_cache=default_cache_dir())
    listener: ConsoleListener | None = None
    if console_needed(settings):
        if built.console.unavailable():
            log.warning(
                "No approver is configured, so a person can approve charges only in clients that ask "
                "(elicitation). Set POLAR_MCP_APPROVER_TOKEN to enable the approval console."
            )
        else:
            # Imported here: without an approver, a stdio server never loads uvicorn.
            from polar_orders_mcp.approvals.listener import ConsoleListener

            listener = ConsoleListener(built.console, settings.approvals_port)
            try:
                listener.bind()
            except OSError as exc:
                built.console.serving = False
                listener = None
                log.error("approval console not started: cannot listen on 127.0.0.1:%s (%s)",
                          settings.approvals_port, exc.strerror)  # fmt: skip
    # Keep what startup built out of the cyclic collector's full passes (they stalled calls 30-40 ms).
    gc.freeze()
    anyio.run(_run, built, listener)


async def _run(built: Built, listener: ConsoleListener | None) -> None:
    async with anyio.create_task_group() as group:
        if listener is not None:
            group.start_soon(listener.serve)
        try:
            await built.server.run_stdio_async()
        finally:
            if listener is not None:
                listener.stop()
