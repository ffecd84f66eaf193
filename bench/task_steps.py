"""The support tasks of `bench.tasks`: what the user asks, and the shortest correct sequence of calls an
agent makes for it on each version, reading ids from the answers as an agent would.

The sequences of this tree are in one place (`CURRENT`), as is each task's server configuration
(`CURRENT_TOOLSETS`): when a tool's name or arguments change, this is what to adjust. 0.1.0's sequences
(`OLD`) are fixed: they replay what that release offered.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.tasks import Agent, Emulator

# One calendar month of the seed (seeded orders are dated before 2026-11-01).
MONTH = ("2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z")
SALES = ["paid", "partially_refunded", "refunded"]
PRODUCT = "Team License"
NEW_BILLING_NAME = "Good Ltd"
NEW_BILLING_LINE1 = "2 Market Street"


@dataclass(frozen=True)
class Scenario:
    """What the user tells the agent, and the truth each answer is checked against (from the seed)."""

    receipt_email: str  # a customer asking about their most recent paid order
    receipt_order_id: str  # that order
    declining_email: str
    good_email: str
    subscriber_email: str
    subscription_id: str  # the subscriber's active subscription to cancel
    subscription_product: str
    open_checkout_ids: frozenset[str]
    portal_customer_id: str  # whose customer session customer mode runs with


@dataclass(frozen=True)
class Task:
    key: str
    title: str
    asked: str  # the request, in the user's words
    old: Callable[[Agent, Scenario], Any] | None  # None: the task could not be done on 0.1.0
    current: Callable[[Agent, Scenario], Any]
    customer_mode: bool = False


def newest(rows: list[dict[str, Any]], status: str = "paid") -> dict[str, Any] | None:
    return next((row for row in rows if row["status"] == status), None)


def csv_sales(text: str) -> dict[str, Any]:
    """What a model reading export_orders' CSV works out: orders and net sales, per currency (minor units)."""
    rows = list(csv.DictReader(io.StringIO(text)))
    by_currency: dict[str, int] = {}
    for row in rows:
        by_currency[row["Currency"]] = by_currency.get(row["Currency"], 0) + round(float(row["Net Amount"]) * 100)
    return {"orders": len(rows), "net": by_currency}


def csv_of(answer: dict[str, Any]) -> str:
    """The CSV attached to an export_orders answer."""
    return str(answer["_resources"][0]["text"])


# -- both versions ----------------------------------------------------------------------------------
# Finding a customer and charging a saved card take the same calls on both (Agent.confirmed gets the
# approval each version's way: a relayed token on 0.1.0, a person in the console now).


def customer_id(a: Agent, email: str) -> str:
    return str(a.call("find_customers", email=email)["items"][0]["id"])


def charge(a: Agent, s: Scenario, email: str, *, declines: bool) -> Any:
    customer = customer_id(a, email)
    product_id = str(a.call("list_products", text=PRODUCT)["items"][0]["id"])
    draft = a.call("create_order", customer_id=customer, product_id=product_id)
    charged = a.confirmed("finalize_order", refused=declines, order_id=draft["id"])
    if not declines:
        return charged
    return {"draft": draft, "checkout": a.call("create_checkout", products=[product_id], customer_id=customer)}


# -- 0.1.0 (ed87fbc) ---------------------------------------------------------------------------------
# No status filter on list_orders (an agent pages through a customer's orders for the newest paid one),
# no summary tool (it reads export_orders' CSV), generate_invoice behind a confirmation token, and the
# token of any irreversible call relayed by the model itself.


def old_newest_paid(a: Agent, customer_id: str) -> dict[str, Any]:
    """Page through the customer's orders (newest first) until a paid one shows up."""
    page: int | None = 1
    while page is not None:
        listing = a.call("list_orders", customer_id=customer_id, **({"page": page} if page > 1 else {}))
        if (found := newest(listing["items"])) is not None:
            return found
        page = listing["next_page"]
    raise AssertionError("the customer has no paid order")


def old_receipt(a: Agent, s: Scenario) -> Any:
    order = old_newest_paid(a, customer_id(a, s.receipt_email))
    return a.call("get_receipt", order_id=order["id"])


def old_billing_invoice(a: Agent, s: Scenario) -> Any:
    order = old_newest_paid(a, customer_id(a, s.receipt_email))
    address = {"line1": NEW_BILLING_LINE1, "postal_code": "10001", "city": "London", "country": "GB"}
    a.call("update_order", order_id=order["id"], billing_name=NEW_BILLING_NAME, billing_address=address)
    a.confirmed("generate_invoice", order_id=order["id"])
    return a.call("get_invoice", order_id=order["id"])


def old_month(a: Agent, s: Scenario) -> Any:
    answer = a.call("export_orders", created_after=MONTH[0], created_before=MONTH[1], status=SALES)
    return csv_sales(csv_of(answer))


def old_portal(a: Agent, s: Scenario) -> Any:
    page: int | None = 1
    while page is not None:
        listing = a.call("list_my_orders", **({"page": page} if page > 1 else {}))
        if (order := newest(listing["items"])) is not None:
            return a.call("get_my_receipt", order_id=order["id"])
        page = listing.get("next_page")
    raise AssertionError("the customer has no paid order")


def open_checkouts(a: Agent, s: Scenario) -> Any:
    return a.call("list_checkouts", status=["open"])


OLD: dict[str, Callable[[Agent, Scenario], Any]] = {
    "receipt": old_receipt,
    "declined_charge": lambda a, s: charge(a, s, s.declining_email, declines=True),
    "confirmed_charge": lambda a, s: charge(a, s, s.good_email, declines=False),
    "billing_invoice": old_billing_invoice,
    "month_sales": old_month,
    "portal": old_portal,
    "open_checkouts": open_checkouts,
}


# -- this tree -----------------------------------------------------------------------------------------
# list_orders filters by status (one row answers "the most recent paid order"), summarize_orders adds
# up a month, generate_invoice needs no approval, refunds and subscriptions exist, and irreversible calls
# are approved by a person in the approval console.

# The opt-in toolsets each task's server is started with, beside the default ones (absent: the defaults).
CURRENT_TOOLSETS: dict[str, list[str]] = {"cancel_subscription": ["subscriptions"], "month_sales": ["reports"]}


def newest_paid(a: Agent, customer: str) -> dict[str, Any]:
    return dict(a.call("list_orders", customer_id=customer, status=["paid"], limit=1)["items"][0])


def receipt(a: Agent, s: Scenario) -> Any:
    order = newest_paid(a, customer_id(a, s.receipt_email))
    return a.call("get_receipt", order_id=order["id"])


def billing_invoice(a: Agent, s: Scenario) -> Any:
    order = newest_paid(a, customer_id(a, s.receipt_email))
    address = {"line1": NEW_BILLING_LINE1, "postal_code": "10001", "city": "London", "country": "GB"}
    a.call("update_order", order_id=order["id"], billing_name=NEW_BILLING_NAME, billing_address=address)
    a.call("generate_invoice", order_id=order["id"])
    return a.call("get_invoice", order_id=order["id"])


def month(a: Agent, s: Scenario) -> Any:
    answer = a.call("summarize_orders", created_after=MONTH[0], created_before=MONTH[1], status=SALES)
    return {
        "orders": sum(c["orders"] for c in answer["currencies"]),
        "net": {c["currency"]: c["net_amount"] for c in answer["currencies"]},
    }


def refund(a: Agent, s: Scenario) -> Any:
    order = newest_paid(a, customer_id(a, s.receipt_email))
    return a.confirmed("create_refund", order_id=order["id"], reason="customer_request")


def cancel_subscription(a: Agent, s: Scenario) -> Any:
    customer = customer_id(a, s.subscriber_email)
    listing = a.call("list_subscriptions", customer_id=customer, status=["active"])
    chosen = next(x for x in listing["items"] if x["product"]["name"] == s.subscription_product)
    return a.call("cancel_subscription", subscription_id=chosen["id"])


def portal(a: Agent, s: Scenario) -> Any:
    order = a.call("list_my_orders", status=["paid"], limit=1)["items"][0]
    return a.call("get_my_receipt", order_id=order["id"])


CURRENT: dict[str, Callable[[Agent, Scenario], Any]] = {
    "receipt": receipt,
    "declined_charge": lambda a, s: charge(a, s, s.declining_email, declines=True),
    "confirmed_charge": lambda a, s: charge(a, s, s.good_email, declines=False),
    "billing_invoice": billing_invoice,
    "month_sales": month,
    "refund": refund,
    "cancel_subscription": cancel_subscription,
    "portal": portal,
    "open_checkouts": open_checkouts,
}


# How the two versions' sequences differ, for the report: keep it true to OLD and CURRENT above.
DIFFERENCES = (
    "0.1.0's `list_orders` has no status filter: for a customer's most recent paid order the agent reads a page "
    "of the customer's orders (the default 20) and picks the newest paid one; the current one asks for one paid "
    "row. The same in customer mode with `list_my_orders`.",
    "0.1.0 has no summary tool: for a month's figures the model reads `export_orders`' CSV of the month's sales "
    "and adds it up; the current version's `summarize_orders` returns the sums.",
    "0.1.0's `generate_invoice` asks for a confirmation token, so making an invoice takes a second call; the "
    "current one makes it in one call.",
    "0.1.0 serves all its tools all the time; the current server serves its default toolsets, with `reports` "
    "for the month's figures and `subscriptions` for the cancellation added by `--toolsets`.",
    "The current `finalize_order` previews from what the server read or made in the last five minutes: the "
    "draft from `create_order`'s answer, the product's list price after `list_products`, the card's label "
    "after `get_customer` (not in the sequence, so the preview reads the saved cards itself). The approved "
    "call always reads the order right before charging it.",
)


TASKS: tuple[Task, ...] = (
    Task(
        "receipt",
        "Find a receipt",
        "Ada (by email) wants the receipt of her most recent paid order.",
        OLD["receipt"],
        CURRENT["receipt"],
    ),
    Task(
        "declined_charge",
        "Declined card, then a checkout link",
        f"Charge Dan's saved card for the {PRODUCT}; it declines, so send him a checkout link.",
        OLD["declined_charge"],
        CURRENT["declined_charge"],
    ),
    Task(
        "confirmed_charge",
        "Charge a saved card",
        f"Charge Ada's saved card for the {PRODUCT}.",
        OLD["confirmed_charge"],
        CURRENT["confirmed_charge"],
    ),
    Task(
        "billing_invoice",
        "Fix billing details, make an invoice",
        "Put Ada's company name and new street on her most recent paid order, and send the invoice.",
        OLD["billing_invoice"],
        CURRENT["billing_invoice"],
    ),
    Task(
        "month_sales",
        "Month sales figures",
        "How did October go? (orders and net sales)",
        OLD["month_sales"],
        CURRENT["month_sales"],
    ),
    Task("refund", "Refund an order", "Refund Ada's most recent paid order in full.", None, CURRENT["refund"]),
    Task(
        "cancel_subscription",
        "Cancel a subscription",
        "A subscriber (by email) wants to cancel their plan at the end of the period.",
        None,
        CURRENT["cancel_subscription"],
    ),
    Task(
        "portal",
        "Answer in customer mode",
        'Signed in as Ada: "send me the receipt of my last order".',
        OLD["portal"],
        CURRENT["portal"],
        customer_mode=True,
    ),
    Task(
        "open_checkouts",
        "List open checkouts",
        "Which checkout links are still open?",
        OLD["open_checkouts"],
        CURRENT["open_checkouts"],
    ),
)


# -- checks: each answer against the truth, read from the emulator once the task is done --------------


def _receipt(answer: Any, s: Scenario, emulator: Emulator) -> str:
    assert answer["order_id"] == s.receipt_order_id and answer["url"], answer
    return f"the receipt link of order {s.receipt_order_id[:8]}…"


def _checkout_link(answer: Any, s: Scenario, emulator: Emulator) -> str:
    checkout = emulator.api("GET", f"/v1/checkouts/{answer['checkout']['id']}")
    assert checkout["status"] == "open" and checkout["product"]["name"] == PRODUCT, checkout
    assert checkout["customer_email"] == s.declining_email and answer["checkout"]["url"], checkout
    draft = emulator.api("GET", f"/v1/orders/{answer['draft']['id']}")
    assert draft["status"] == "draft", f"the declined card's order is {draft['status']}"
    return f"an open checkout link for the {PRODUCT}, nothing charged"


def _charged(answer: Any, s: Scenario, emulator: Emulator) -> str:
    order = emulator.api("GET", f"/v1/orders/{answer['order']['id']}")
    assert answer["status"] == "charged" and order["status"] == "paid", order["status"]
    assert order["customer"]["email"] == s.good_email and order["product"]["name"] == PRODUCT, order
    return f"order {order['id'][:8]}… paid, {order['total_amount']} {order['currency']}"


def _invoiced(answer: Any, s: Scenario, emulator: Emulator) -> str:
    order = emulator.api("GET", f"/v1/orders/{s.receipt_order_id}")
    assert answer["order_id"] == s.receipt_order_id and answer["url"], answer
    assert order["billing_name"] == NEW_BILLING_NAME and order["billing_address"]["line1"] == NEW_BILLING_LINE1
    assert order["is_invoice_generated"], order
    return f"order {s.receipt_order_id[:8]}…: new billing details, its invoice link"


def _month(answer: Any, s: Scenario, emulator: Emulator) -> str:
    params = {"created_after": MONTH[0], "created_before": MONTH[1], "status": SALES}
    response = emulator.http.get("/v1/orders/export", params=params)
    response.raise_for_status()
    truth = csv_sales(response.text)
    assert answer == truth, (answer, truth)
    return f"{truth['orders']} orders, net " + ", ".join(f"{v} {k}" for k, v in truth["net"].items())


def _refunded(answer: Any, s: Scenario, emulator: Emulator) -> str:
    order = emulator.api("GET", f"/v1/orders/{s.receipt_order_id}")
    assert order["status"] == "refunded", order["status"]
    return f"order {s.receipt_order_id[:8]}… refunded in full"


def _canceled(answer: Any, s: Scenario, emulator: Emulator) -> str:
    subscription = emulator.api("GET", f"/v1/subscriptions/{s.subscription_id}")
    assert subscription["cancel_at_period_end"] and subscription["status"] == "active", subscription
    return f"subscription {s.subscription_id[:8]}… ends at its period's end"


def _open(answer: Any, s: Scenario, emulator: Emulator) -> str:
    found = {c["id"] for c in answer["items"]}
    assert found == s.open_checkout_ids, (found, s.open_checkout_ids)
    return f"{len(found)} open checkout(s)"


CHECKS: dict[str, Callable[[Any, Scenario, Emulator], str]] = {
    "receipt": _receipt,
    "declined_charge": _checkout_link,
    "confirmed_charge": _charged,
    "billing_invoice": _invoiced,
    "month_sales": _month,
    "refund": _refunded,
    "cancel_subscription": _canceled,
    "portal": _receipt,
    "open_checkouts": _open,
}
