"""Resource templates: orders, checkouts and customers by id, as the same views the tools return."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError
from pydantic import BaseModel

from polar_orders_mcp.polar.errors import PolarError
from polar_orders_mcp.polar.ids import is_uuid
from polar_orders_mcp.tools import views
from polar_orders_mcp.tools.context import AppState
from polar_orders_mcp.tools.customers import customer_view

# Matched with fullmatch: `$` would also match before a trailing newline, and let "<uuid>\n" through.


async def _order(state: AppState, order_id: str) -> BaseModel:
    return views.order(await state.client.orders.get(order_id))


async def _checkout(state: AppState, checkout_id: str) -> BaseModel:
    return views.checkout(await state.client.checkouts.get(checkout_id), with_secret=state.show_client_secrets)


async def _customer(state: AppState, customer_id: str) -> BaseModel:
    api = state.client
    customer = await api.customers.get(customer_id)
    return customer_view(customer, await api.customers.payment_methods(customer_id))


Reader = Callable[[AppState, str], Awaitable[BaseModel]]

# (uri template, name, title, description, reader)
RESOURCES: tuple[tuple[str, str, str, str, Reader], ...] = (
    ("polar://orders/{id}", "order", "Order", "One order, as get_order shows it.", _order),
    ("polar://checkouts/{id}", "checkout", "Checkout", "One checkout session, as get_checkout shows it.", _checkout),
    ("polar://customers/{id}", "customer", "Customer", "One customer with saved payment methods.", _customer),
)


def _handler(kind: str, reader: Reader) -> Callable[..., Awaitable[str]]:
    async def read(id: str, ctx: Context[Any, Any]) -> str:
        if not is_uuid(id):
            raise ResourceError(f"{id!r} is not a Polar {kind} id: ids are UUIDs.")
        state = ctx.request_context.lifespan_context
        assert isinstance(state, AppState)
        try:
            view = await reader(state, id)
        except PolarError as exc:
            raise ResourceError(str(exc)) from exc
        return view.model_dump_json()

    read.__name__ = f"read_{kind}"
    return read


def register_resources(mcp: MCPServer[Any]) -> None:
    for uri, name, title, description, reader in RESOURCES:
        mcp.resource(uri, name=name, title=title, description=description, mime_type="application/json")(
            _handler(name, reader)
        )
