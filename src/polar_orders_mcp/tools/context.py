"""What a tool gets from the server rather than from the model: the API client and the guard."""

from __future__ import annotations

import functools
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, ParamSpec, TypeVar

from mcp.server.mcpserver import AcceptedElicitation, Context, Resolve
from mcp.server.mcpserver.exceptions import ToolError

from polar_orders_mcp.approvals.policy import Guard
from polar_orders_mcp.polar.client import PolarClient
from polar_orders_mcp.polar.errors import PolarError


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class AppState:
    """The server's lifespan state: one API client and the guard every irreversible call goes through.

    The client is made on first use: a session that never calls Polar (one that only lists the
    tools) never loads the HTTP stack or builds an SSL context, which is about a tenth of a cold start.
    A stdio server makes it on a worker thread once it has answered the tool list (see server/app.py), so
    the lock keeps the first call from making a second one meanwhile.
    """

    connect: Callable[[], PolarClient]
    guard: Guard
    allow_price_override: bool = False
    show_client_secrets: bool = True
    """A checkout's client secret is a credential: answers carry it only when a tool that takes one is served."""
    subscription_tools: bool = False
    """Whether get_subscription is served: get_order's answer for a subscription's order says where it is."""
    clock: Callable[[], datetime] = utc_now
    """The server's time, said in list answers (the embedded emulator's clock when the server runs on it)."""
    timezone: str = "UTC"
    """The zone reports count calendar days in unless told: --timezone, else UTC."""
    _client: PolarClient | None = field(default=None, init=False, repr=False)
    _connecting: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def client(self) -> PolarClient:
        if self._client is None:
            with self._connecting:
                if self._client is None:
                    self._client = self.connect()
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()


def app_state(ctx: Context[Any, Any]) -> AppState:
    state = ctx.request_context.lifespan_context
    assert isinstance(state, AppState), "the server's lifespan must yield an AppState"
    return state


# Resolvers are async although they never wait: mcp runs a plain function resolver on a worker
# thread, a thread hop on every tool call for a lookup.
async def api_client(ctx: Context[Any, Any]) -> PolarClient:
    return app_state(ctx).client


async def server_now(ctx: Context[Any, Any]) -> datetime:
    return app_state(ctx).clock()


# mcp 2.3.0 wraps every resolved value (the client, the guard) in `AcceptedElicitation[Any]`, a
# parametrized pydantic generic that pydantic caches only weakly: unreferenced, the class is
# rebuilt on the next tool call. This reference keeps the cached one.
_RESOLVED = AcceptedElicitation[Any]

Ctx = Context[Any, Any]
Api = Annotated[PolarClient, Resolve(api_client)]
Now = Annotated[datetime, Resolve(server_now)]

P = ParamSpec("P")
R = TypeVar("R")


def polar_errors_as_tool_errors(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Show the model the client's readable error instead of the SDK's bare "Error executing tool"."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except PolarError as exc:
            raise ToolError(str(exc)) from exc

    return wrapper
