"""What a server made from cached tool schemas left for later, done once the client has its tool list."""

from __future__ import annotations

from typing import Any

import anyio
import anyio.to_thread
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext

from polar_orders_mcp.server.arguments import CheckedTool
from polar_orders_mcp.tools.context import AppState

# A client that never lists the tools (a 2026-07-28 one may keep the list from an earlier session) gets
# the preparation this long after the server starts; a tool called before is derived by its call.
UNLISTED_AFTER_SECONDS = 1.0
# Once the tool list is answered: time for the answer to be written before the CPU goes elsewhere.
AFTER_LIST_SECONDS = 0.05


class FirstCallPreparation:
    """Middleware that notes when `tools/list` has been answered, and the task that then derives each
    tool's argument model (one tool at a time, so a request arriving meanwhile waits for one at most) and,
    with `connect`, makes the Polar client (whose SSL context is a tenth of a second) on a worker thread:
    while the client reads the list and the model thinks, not on the first call."""

    def __init__(self, tools: list[CheckedTool], *, connect: bool) -> None:
        self.tools = tools
        self.connect = connect
        self._listed: anyio.Event | None = None

    def _event(self) -> anyio.Event:
        if self._listed is None:
            self._listed = anyio.Event()
        return self._listed

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        result = await call_next(ctx)
        if ctx.method == "tools/list":
            self._event().set()
        return result

    async def run(self, state: AppState) -> None:
        with anyio.move_on_after(UNLISTED_AFTER_SECONDS):
            await self._event().wait()
        await anyio.sleep(AFTER_LIST_SECONDS)
        for tool in self.tools:
            tool.derive_now()
            await anyio.sleep(0)
        if self.connect:
            await anyio.to_thread.run_sync(lambda: state.client)
