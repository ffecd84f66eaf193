"""`PolarClient`: the one async client of Polar's API, with a service per resource."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from types import TracebackType

import anyio
import httpx2

from polar_orders_mcp import __version__
from polar_orders_mcp.polar.checkouts import Checkouts
from polar_orders_mcp.polar.customer_portal import CustomerPortal
from polar_orders_mcp.polar.customer_sessions import CustomerSessions
from polar_orders_mcp.polar.customers import Customers
from polar_orders_mcp.polar.disputes import Disputes
from polar_orders_mcp.polar.orders import Orders
from polar_orders_mcp.polar.organizations import Organizations
from polar_orders_mcp.polar.products import Products
from polar_orders_mcp.polar.refunds import Refunds
from polar_orders_mcp.polar.requester import Requester
from polar_orders_mcp.polar.retries import DEFAULT_MAX_RETRIES
from polar_orders_mcp.polar.servers import resolve_server
from polar_orders_mcp.polar.subscriptions import Subscriptions

DEFAULT_API_VERSION = "2026-10"
CONNECT_TIMEOUT = 5.0


class PolarClient:
    """An async client of Polar's API.

    `server` is "production", "sandbox" or a URL (an emulator, a proxy). Reads are retried
    on connection errors, 429 and 502/503/504; writes are never repeated once Polar may
    have seen them. Errors are `polar_orders_mcp.polar.errors.PolarError`s.
    """

    def __init__(
        self,
        token: str,
        *,
        server: str = "production",
        api_version: str = DEFAULT_API_VERSION,
        timeout: float = 30.0,
        max_retries: int = DEFAULT_MAX_RETRIES,
        transport: httpx2.AsyncBaseTransport | None = None,
        user_agent: str | None = None,
        customer_session: str | None = None,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        self.environment, self.base_url = resolve_server(server)
        self.api_version = api_version
        self._http = httpx2.AsyncClient(
            base_url=self.base_url,
            transport=transport,
            timeout=httpx2.Timeout(timeout, connect=min(CONNECT_TIMEOUT, timeout)),
            headers={
                "Polar-Version": api_version,
                "User-Agent": user_agent or f"polar-orders-mcp/{__version__}",
                "Accept": "application/json",
            },
            follow_redirects=False,
        )
        api = Requester(
            self._http,
            token=token,
            environment=self.environment,
            base_url=self.base_url,
            max_retries=max_retries,
            sleep=sleep,
            rand=rand,
        )
        self.orders = Orders(api)
        self.checkouts = Checkouts(api)
        self.customers = Customers(api)
        self.products = Products(api)
        self.customer_portal = CustomerPortal(api, customer_session)
        self.customer_sessions = CustomerSessions(api)
        self.refunds = Refunds(api)
        self.subscriptions = Subscriptions(api)
        self.disputes = Disputes(api)
        self.organizations = Organizations(api)

    def __repr__(self) -> str:
        return f"PolarClient(environment={self.environment!r}, base_url={self.base_url!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> PolarClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
