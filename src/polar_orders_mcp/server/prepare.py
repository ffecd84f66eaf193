"""What a server made from cached tool schemas left for later, done once the client has its tool list."""

from __future__ import annotations

from typing import Any

import anyio
import anyio.to_thread
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext

from polar_orders_mcp.server.sdk_tools import CheckedTool
from polar_orders_mcp.tools.context import AppState

# A client that never lists the tools (a 2026-07-28 one may keep the list from an earlier session) gets
# the preparation this long after the server starts; a tool called before is derived by its call.
UNLISTED_AFTER_SECONDS = 1.0
# Once the tool list is answered: time for the answer to be written before the CPU goes elsewhere.
AFTER_LIST_SECONDS = 0.05
# While a request is being answered the preparation waits, looking again this often.
BUSY_POLL_SECONDS = 0.01


class FirstCallPreparation:
    """Middleware that notes when `tools/list` has been answered and which requests are being answered,
    and the task that then derives each tool's argument model and, with `connect`, makes the Polar client
    (whose SSL context is a tenth of a second) on a worker thread: while the client reads the list and the
    model thinks, not on the first call. It works only while no request is being answered, one tool at a
    time, so a request arriving meanwhile waits for one tool at most."""

    def __init__(self, tools: list[CheckedTool], *, connect: bool) -> None:
        self.tools = tools
        self.connect = connect
        self._listed: anyio.Event | None = None
        self._answering = 0

    def _event(self) -> anyio.Event:
        if self._listed is None:
            self._listed = anyio.Event()
        return self._listed

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        # A 2026-07-28 subscription stream stays open for the whole session: it is not a request to wait for.
        counted = int(ctx.method != "subscriptions/listen")
        self._answering += counted
        try:
            result = await call_next(ctx)
        finally:
            self._answering -= counted
        if ctx.method == "tools/list":
            self._event().set()
        return result

    async def _quiet(self) -> None:
        while self._answering:
            await anyio.sleep(BUSY_POLL_SECONDS)

    async def run(self, state: AppState) -> None:
        with anyio.move_on_after(UNLISTED_AFTER_SECONDS):
            await self._event().wait()
        await anyio.sleep(AFTER_LIST_SECONDS)
        for tool in self.tools:
            await self._quiet()
            tool.derive_now()
            await anyio.sleep(0)
        await self._quiet()
        if self.connect:
            await anyio.to_thread.run_sync(lambda: state.client)
