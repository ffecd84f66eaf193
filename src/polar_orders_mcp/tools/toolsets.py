"""The toolsets: groups of tools served or left out together, and which of them are served by default.
Imports nothing, so the command line can describe them without loading the tools."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Toolset:
    """A group of tools served or left out together: `--toolsets` picks by name."""

    name: str
    summary: str
    default: bool


# In the order the server lists them. The default ones are what a merchant's support desk needs;
# the rest are opt-in (`--toolsets default,subscriptions`, or `all`).
TOOLSETS: tuple[Toolset, ...] = (
    Toolset("orders", "find and read orders, fix billing details, receipts and invoices", default=True),
    Toolset("charges", "draft an order and charge a customer's saved card", default=True),
    Toolset("checkouts", "checkout links: create, list, read and change them", default=True),
    Toolset("customers", "find customers, their saved cards and the products on sale", default=True),
    Toolset("refunds", "refund an order, list and read refunds", default=True),
    Toolset("reports", "sales figures for a period (by product, status or day) and the CSV export", default=False),
    Toolset("subscriptions", "list, read, cancel, uncancel and revoke subscriptions", default=False),
    Toolset("disputes", "list and read chargebacks, concede one", default=False),
    Toolset(
        "checkout_page",
        "act as the payment page: read, fill in and confirm a checkout by its client secret",
        default=False,
    ),
    Toolset("customer_sessions", "sign a customer in to the customer portal (a session token)", default=False),
    Toolset("portal", "customer mode: the signed-in customer's own orders, receipts and invoices", default=True),
)
TOOLSET_NAMES = tuple(t.name for t in TOOLSETS)
DEFAULT_TOOLSETS = tuple(t.name for t in TOOLSETS if t.default)
# Words --toolsets takes besides the names: every default toolset, or every toolset.
TOOLSET_WORDS = ("default", "all")


def toolsets_help() -> str:
    """One line per toolset, for `serve --help` and the start-up errors."""
    return "\n".join(f"  {t.name:<18} {'default ' if t.default else 'opt-in  '} {t.summary}" for t in TOOLSETS)
