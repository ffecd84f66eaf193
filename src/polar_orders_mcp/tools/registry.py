"""The explicit table of every tool the server can serve."""

from __future__ import annotations

from polar_orders_mcp.tools import checkouts, customers, documents, export, orders, products
from polar_orders_mcp.tools.base import Tool

TOOLSETS = ("orders", "checkouts", "customers", "portal")

ALL_TOOLS: tuple[Tool, ...] = (
    *orders.TOOLS,
    *documents.TOOLS,
    *export.TOOLS,
    *checkouts.TOOLS,
    *customers.TOOLS,
    *products.TOOLS,
)
