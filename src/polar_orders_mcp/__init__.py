"""polar-orders-mcp: an MCP server for Polar.sh orders and checkouts."""

__version__ = "0.3.0"
