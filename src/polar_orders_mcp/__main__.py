"""`python -m polar_orders_mcp`."""

from polar_orders_mcp.cli import main

if __name__ == "__main__":
    main()
