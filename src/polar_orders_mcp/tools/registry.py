"""The explicit tables of every tool the server can serve, in each of its two modes."""

from __future__ import annotations

from polar_orders_mcp.tools import (
    checkouts,
    customers,
    disputes,
    documents,
    export,
    orders,
    portal,
    products,
    refunds,
    subscriptions,
    summary,
)
from polar_orders_mcp.tools.base import Tool
from polar_orders_mcp.tools.toolsets import TOOLSET_NAMES


def _in_toolset_order(tools: tuple[Tool, ...]) -> tuple[Tool, ...]:
    """Tools grouped by toolset, in TOOLSETS' order, each toolset in its modules' table order."""
    rank = {name: index for index, name in enumerate(TOOLSET_NAMES)}
    return tuple(sorted(tools, key=lambda tool: rank[tool.toolset]))


# Organization mode (an organization access token): the whole organization's orders.
ALL_TOOLS: tuple[Tool, ...] = _in_toolset_order(
    (
        *orders.TOOLS,
        *documents.TOOLS,
        *export.TOOLS,
        *summary.TOOLS,
        *checkouts.TOOLS,
        *customers.TOOLS,
        *products.TOOLS,
        *portal.TOOLS,
        *refunds.TOOLS,
        *subscriptions.TOOLS,
        *disputes.TOOLS,
    )
)

# Customer mode (a customer session): one signed-in customer's own orders, nothing else.
CUSTOMER_TOOLS: tuple[Tool, ...] = portal.CUSTOMER_TOOLS
