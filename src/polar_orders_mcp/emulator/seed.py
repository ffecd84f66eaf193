"""The deterministic seed: one organization, its tokens, catalog, customers, orders and checkouts."""

from __future__ import annotations

import gc
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from . import seed_sales
from .models import (
    Address,
    Checkout,
    Customer,
    Discount,
    Metadata,
    Order,
    Organization,
    OrgPrincipal,
    PaymentMethod,
    Price,
    Product,
    Subscription,
    tax_for,
)
from .store import Store

ORG_TOKEN = "polar_oat_emulator_full_access"
READ_ONLY_TOKEN = "polar_oat_emulator_read_only"
SCOPES = frozenset(
    f"{resource}:{access}"
    for resource in (
        "checkouts",
        "customers",
        "discounts",
        "disputes",
        "orders",
        "organizations",
        "products",
        "refunds",
        "subscriptions",
    )
    for access in ("read", "write")
) | {"customer_sessions:write"}
READ_SCOPES = frozenset(s for s in SCOPES if s.endswith(":read"))

# Seeded orders are dated before this instant, so the data does not depend on the day it is built.
SEED_EPOCH = datetime(2026, 11, 1, tzinfo=UTC)
CUSTOMER_KINDS = ("good_card", "declining_card", "sca_card", "no_payment_method", "no_billing_address")
FIRST_NAMES = "Alice Bruno Chloe Dmitri Elena Farid Greta Hiro Ines Jonas Kira Luca Mira Nils Olga Priya".split()
LAST_NAMES = "Andersen Brandt Costa Dubois Eriksen Fischer Garcia Huber Ivanova Jansen Kowalski Laine".split()
CITIES: dict[str, tuple[str, str | None]] = {
    "US": ("San Francisco", "US-CA"),
    "GB": ("London", None),
    "DE": ("Berlin", None),
    "FR": ("Paris", None),
    "NL": ("Amsterdam", None),
    "CA": ("Toronto", "CA-ON"),
    "SE": ("Stockholm", None),
    "JP": ("Tokyo", None),
}
METADATA_POOL: tuple[Metadata, ...] = (
    {},
    {"source": "web"},
    {"source": "api"},
    {"source": "web", "campaign": "spring"},
    {"source": "import", "priority": 2},
    {"source": "api", "gift": True},
)


@dataclass(frozen=True)
class SeedInfo:
    """The seeded objects tests, the demo and benchmarks refer to by these stable names."""

    seed: int
    orders: int
    organization_id: str
    org_token: str
    read_only_token: str
    products: dict[str, str]
    discount_id: str
    customers: dict[str, str]
    payment_methods: dict[str, str]
    draft_orders: dict[str, str]
    orders_by_status: dict[str, str]
    paid_order_id: str
    open_checkout_id: str
    open_checkout_client_secret: str
    expired_checkout_id: str
    expired_checkout_client_secret: str
    succeeded_checkout_id: str
    # After sales (seed_sales.py): disputes, disputed orders and subscriptions by state, and the
    # seeded refund of each (partially) refunded special order by its status.
    disputes: dict[str, str]
    disputed_orders: dict[str, str]
    refunds_blocked_order_id: str
    subscriptions: dict[str, str]
    subscription_orders: dict[str, str]
    refunds: dict[str, str]


def address(country: str, n: int) -> Address:
    city, state = CITIES[country]
    return {
        "line1": f"{n} Market Street",
        "line2": None,
        "postal_code": f"{10000 + n}",
        "city": city,
        "state": state,
        "country": country,
    }


def build(*, orders: int, seed: int, now: datetime) -> tuple[Store, SeedInfo]:
    """Build the whole store; `orders` is the total number of orders, special ones included."""
    # Nothing built here is garbage: skipping the collector's passes over 100k new objects halves the time.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _build(orders=orders, seed=seed, now=now)
    finally:
        if collecting:
            gc.enable()


def _build(*, orders: int, seed: int, now: datetime) -> tuple[Store, SeedInfo]:
    rng = random.Random(seed)
    org = Organization(
        id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        created_at=SEED_EPOCH - timedelta(days=800),
        name="Emulator Labs",
        slug="emulator-labs",
        invoice_prefix=f"EMU{seed % 10_000:04d}",
    )
    store = Store(rng=rng, organization=org)
    store.tokens[ORG_TOKEN] = OrgPrincipal(org.id, SCOPES)
    store.tokens[READ_ONLY_TOKEN] = OrgPrincipal(org.id, READ_SCOPES)
    products = _products(store)
    discount = Discount(store.new_id(), org.id, SEED_EPOCH - timedelta(days=500), "Launch 10%", "LAUNCH10", 1000)
    store.discounts[discount.id] = discount
    customers = _special_customers(store)
    extra = _extra_customers(store, count=max(10, min(200, orders // 20)))
    for customer in (*customers.values(), *extra):
        store.add_customer(customer)
    specials = _special_orders(store, products, customers)
    generated = max(0, orders - len(specials) - seed_sales.ORDER_COUNT)
    _generated_orders(store, products, discount, [*customers.values(), *extra], generated)
    for order in specials:
        store.add_order(order)
        _number(org, order)
    checkouts = _checkouts(store, products, customers, specials[-1], now)
    seed_sales.settle_generated(store, SEED_EPOCH)
    sales = seed_sales.sales(store, products, customers, SEED_EPOCH)
    seed_sales.refund_records(store)
    info = SeedInfo(
        seed=seed,
        orders=len(store.orders),
        organization_id=org.id,
        org_token=ORG_TOKEN,
        read_only_token=READ_ONLY_TOKEN,
        products={kind: p.id for kind, p in products.items()},
        discount_id=discount.id,
        customers={kind: c.id for kind, c in customers.items()},
        payment_methods={kind: c.payment_methods[0].id for kind, c in customers.items() if c.payment_methods},
        draft_orders={kind: specials[i].id for i, kind in enumerate(CUSTOMER_KINDS)},
        orders_by_status={o.status: o.id for o in reversed(specials)},
        paid_order_id=specials[-1].id,
        open_checkout_id=checkouts[0].id,
        open_checkout_client_secret=checkouts[0].client_secret,
        expired_checkout_id=checkouts[1].id,
        expired_checkout_client_secret=checkouts[1].client_secret,
        succeeded_checkout_id=checkouts[2].id,
        disputes=sales.disputes,
        disputed_orders=sales.disputed_orders,
        refunds_blocked_order_id=sales.refunds_blocked_order_id,
        subscriptions=sales.subscriptions,
        subscription_orders=sales.subscription_orders,
        refunds={o.status: store.derived_id("refund", o.id) for o in specials if o.refunded_amount > 0},
    )
    return store, info


def _products(store: Store) -> dict[str, Product]:
    org_id, created = store.organization.id, SEED_EPOCH - timedelta(days=700)
    specs: list[tuple[str, str, str | None, str, dict[str, int | None]]] = [
        ("one_time_fixed", "Starter Pack", None, "fixed", {"price_amount": 1250}),
        (
            "one_time_custom",
            "Tip Jar",
            None,
            "custom",
            {"minimum_amount": 500, "maximum_amount": None, "preset_amount": 1000},
        ),
        ("free", "Community Guide", None, "fixed", {"price_amount": 0}),
        ("recurring", "Pro Monthly", "month", "fixed", {"price_amount": 2900}),
        ("team_license", "Team License", None, "fixed", {"price_amount": 9900}),
        ("recurring_yearly", "Pro Yearly", "year", "fixed", {"price_amount": 29000}),
    ]
    products: dict[str, Product] = {}
    for i, (kind, name, interval, amount_type, amounts) in enumerate(specs):
        product_id = store.new_id()
        price = Price(
            store.new_id(),
            product_id,
            created + timedelta(hours=i),
            amount_type,  # type: ignore[arg-type]
            **amounts,  # type: ignore[arg-type]
        )
        products[kind] = Product(
            product_id,
            org_id,
            created + timedelta(hours=i),
            name,
            f"{name}, sold by the emulator.",
            [price],
            interval,
            metadata={"kind": kind},
        )
        store.products[product_id] = products[kind]
    return products


def _card(store: Store, customer_id: str, brand: str, last4: str, outcome: str) -> PaymentMethod:
    return PaymentMethod(store.new_id(), customer_id, SEED_EPOCH - timedelta(days=300), brand, last4, 12, 2030, outcome)  # type: ignore[arg-type]


def _special_customers(store: Store) -> dict[str, Customer]:
    # Stripe's test cards: 4242 succeeds, 0002 declines, 3155 needs 3-D Secure off-session.
    specs = [
        ("good_card", "Ada Good", "GB", ("visa", "4242", "succeeds")),
        ("declining_card", "Dan Declined", "US", ("visa", "0002", "declines")),
        ("sca_card", "Sam Secure", "DE", ("visa", "3155", "requires_action")),
        ("no_payment_method", "Nina Nocard", "FR", None),
        ("no_billing_address", "Omar Noaddress", None, ("mastercard", "4444", "succeeds")),
    ]
    customers: dict[str, Customer] = {}
    for i, (kind, name, country, card) in enumerate(specs):
        customer = Customer(
            store.new_id(),
            store.organization.id,
            SEED_EPOCH - timedelta(days=400, hours=i),
            f"{kind.replace('_', '-')}@example.com",
            name,
            address(country, i + 1) if country else None,
            external_id=f"emu_{kind}",
            metadata={"kind": kind},
        )
        if card:
            method = _card(store, customer.id, *card)
            customer.payment_methods.append(method)
            customer.default_payment_method_id = method.id
        customers[kind] = customer
    return customers


def _extra_customers(store: Store, count: int) -> list[Customer]:
    rng, countries, out = store.rng, list(CITIES), []
    for n in range(count):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        created = SEED_EPOCH - timedelta(days=390 - n % 300, minutes=n)
        customer = Customer(
            store.new_id(),
            store.organization.id,
            created,
            f"{first.lower()}.{last.lower()}{n}@example.com",
            f"{first} {last}",
            address(rng.choice(countries), n + 10),
            external_id=f"crm_{n:05d}" if n % 3 else None,
            metadata={"segment": rng.choice(("individual", "smb", "enterprise"))},
        )
        method = _card(
            store, customer.id, *rng.choice((("visa", "4242"), ("mastercard", "4444"), ("amex", "8431"))), "succeeds"
        )
        customer.payment_methods.append(method)
        customer.default_payment_method_id = method.id
        out.append(customer)
    return out


def _order(
    store: Store,
    created: datetime,
    status: str,
    customer: Customer,
    product: Product,
    subtotal: int,
    discount: Discount | None = None,
    metadata: Metadata | None = None,
) -> Order:
    discount_amount = subtotal * discount.basis_points // 10_000 if discount else 0
    return Order(
        store.new_id(),
        created,
        status,
        customer,
        product,
        product.prices[0],
        subtotal,
        tax_for(subtotal - discount_amount, customer.billing_address),
        product.name,
        customer.billing_name,
        customer.billing_address,
        metadata if metadata is not None else {},
        discount=discount,
        discount_amount=discount_amount,
    )


def _number(org: Organization, order: Order) -> None:
    """Allocate numbers as Polar does: an invoice number once out of draft, a receipt once paid."""
    if order.status != "draft":
        order.invoice_number = org.allocate_invoice_number()
    if order.paid:
        order.receipt_number = org.allocate_receipt_number()


def _special_orders(store: Store, products: dict[str, Product], customers: dict[str, Customer]) -> list[Order]:
    """One draft per customer kind, then one order in each other status; the last one is paid."""
    fixed = products["one_time_fixed"]
    at = [SEED_EPOCH - timedelta(minutes=60 - i) for i in range(12)]
    orders = [
        _order(store, at[i], "draft", customers[k], fixed, 1250, metadata={"kind": "draft"})
        for i, k in enumerate(CUSTOMER_KINDS)
    ]
    good = customers["good_card"]
    for i, status in enumerate(("pending", "void", "refunded", "partially_refunded", "paid")):
        orders.append(_order(store, at[5 + i], status, good, fixed, 1250, metadata={"kind": status}))
    _refund(orders[7], full=True)
    _refund(orders[8], full=False)
    return orders


def _refund(order: Order, *, full: bool) -> None:
    share = 1 if full else 0.5
    order.refunded_amount = round(order.net_amount * share)
    order.refunded_tax_amount = round(order.tax_amount * share)


# Weighted tables drawn from with one random() each: cheaper than random.choices at 100k orders.
PRODUCT_TABLE = (
    ["one_time_fixed"] * 40
    + ["one_time_custom"] * 15
    + ["free"] * 10
    + ["recurring"] * 20
    + ["team_license"] * 10
    + ["recurring_yearly"] * 5
)
STATUS_TABLE = (
    ["paid"] * 82 + ["refunded"] * 5 + ["partially_refunded"] * 5 + ["pending"] * 3 + ["void"] * 2 + ["draft"] * 3
)
CUSTOM_AMOUNTS = (500, 1000, 1500, 2500, 5000)


def _generated_orders(
    store: Store, products: dict[str, Product], discount: Discount, customers: list[Customer], count: int
) -> None:
    org, random_ = store.organization, store.rng.random
    table = [products[k] for k in PRODUCT_TABLE]
    start, span = SEED_EPOCH - timedelta(days=366), 365 * 86_400
    offsets = sorted(random_() * span for _ in range(count))
    subscriptions: dict[tuple[str, str], Subscription] = {}
    n_customers, n_metadata = len(customers), len(METADATA_POOL)
    orders, by_id = store.orders, store.orders_by_id
    for offset in offsets:
        customer = customers[int(random_() * n_customers)]
        product = table[int(random_() * 100)]
        product.referenced = True
        status = STATUS_TABLE[int(random_() * 100)]
        price = product.prices[0]
        subtotal = price.price_amount if price.amount_type == "fixed" else CUSTOM_AMOUNTS[int(random_() * 5)]
        recurring = product.recurring_interval is not None
        if recurring and status == "draft":
            status = "paid"
        use_discount = discount if not recurring and subtotal and random_() < 0.08 else None
        discount_amount = subtotal * discount.basis_points // 10_000 if use_discount else 0
        order = Order(
            store.new_id(),
            start + timedelta(seconds=offset),
            status,
            customer,
            product,
            price,
            subtotal,
            tax_for(subtotal - discount_amount, customer.billing_address),
            product.name,
            customer.billing_name,
            customer.billing_address,
            METADATA_POOL[int(random_() * n_metadata)],
            discount=use_discount,
            discount_amount=discount_amount,
        )
        if recurring:
            _attach_subscription(store, subscriptions, order)
        if status == "refunded" or status == "partially_refunded":
            _refund(order, full=status == "refunded")
        if status != "draft":
            order.invoice_number = org.allocate_invoice_number()
            if status != "pending" and status != "void":
                order.receipt_number = org.allocate_receipt_number()
                if random_() < 0.3 and order.billing_address is not None:
                    order.invoice = order.billing_details
        orders.append(order)
        by_id[order.id] = order


def _attach_subscription(store: Store, subscriptions: dict[tuple[str, str], Subscription], order: Order) -> None:
    key = (order.customer.id, order.product.id)
    subscription = subscriptions.get(key)
    period = timedelta(days=30 if order.product.recurring_interval == "month" else 365)
    if subscription is None:
        subscription = Subscription(
            store.new_id(),
            order.created_at,
            order.customer.id,
            order.product.id,
            order.subtotal_amount,
            order.product.recurring_interval or "month",
            order.created_at,
            order.created_at + period,
        )
        subscriptions[key] = store.subscriptions[subscription.id] = subscription
        order.billing_reason = "subscription_create"
    else:
        order.billing_reason = "subscription_cycle"
        # Each cycle's order starts the subscription's next period.
        subscription.current_period_start = order.created_at
        subscription.current_period_end = order.created_at + period
    order.subscription = subscription


def _checkouts(
    store: Store, products: dict[str, Product], customers: dict[str, Customer], paid: Order, now: datetime
) -> list[Checkout]:
    """An open one (valid for a day so long demos keep it), an expired one and the paid order's one."""
    fixed, good = products["one_time_fixed"], customers["good_card"]
    made: list[Checkout] = []
    for status, created, expires in (
        ("open", now, now + timedelta(days=1)),
        ("expired", now - timedelta(hours=3), now - timedelta(hours=2)),
        ("succeeded", paid.created_at - timedelta(minutes=2), paid.created_at + timedelta(hours=1)),
    ):
        secret = store.new_secret("polar_c_")
        checkout = Checkout(
            store.new_id(),
            created,
            secret,
            expires,
            store.organization.id,
            [fixed],
            fixed,
            fixed.prices[0],
            1250,
            "https://example.com/thanks?checkout_id={CHECKOUT_ID}",
            status=status,
            customer=good,
            customer_name=good.name,
            customer_email=good.email,
            customer_billing_name=good.billing_name,
            customer_billing_address=good.billing_address,
            metadata={"seeded": True},
        )
        store.add_checkout(checkout)
        made.append(checkout)
    made[2].order_id = paid.id
    paid.checkout_id = made[2].id
    return made
