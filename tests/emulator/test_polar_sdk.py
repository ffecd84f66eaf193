"""Polar's official Python SDK (`polar-sdk`, pinned in the test extra) against the emulator over HTTP.

Every operation the emulator serves, driven through the SDK unchanged: its models must decode each
answer and each error must come back as the typed error Polar's code raises. Two of the SDK's own
limits show against real Polar too, and are asserted as such: its `receipt()` cannot read the 202
with an empty body Polar sends while the PDF renders, and its 404 model accepts only
`ResourceNotFound`, while Polar answers `InvoiceDoesNotExist` / `ReceiptNotAllocated` there. For
those, the test checks that the emulator sends exactly what Polar sends.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx2
import pytest
from polar.base import PolarClientError, PolarDeserializationError, PolarRateLimitError, PolarServerError
from polar.v2026_04 import Polar as Polar2604
from polar.v2026_10 import Polar, errors, outputs
from starlette.applications import Starlette

from polar_orders_mcp.emulator.app import create_app
from polar_orders_mcp.emulator.seed import ORG_TOKEN, SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState
from tests.server.conftest import serve_in_thread

UNKNOWN = "0b6a7f5e-3f0e-4c2b-9a53-8f7b2b9d1c11"
US_ADDRESS = {"country": "US", "state": "US-NY", "line1": "1 Main St", "city": "New York", "postal_code": "10001"}


@pytest.fixture(scope="module")
def app() -> Starlette:
    return create_app(orders=40)


@pytest.fixture(scope="module")
def base_url(app: Starlette) -> Iterator[str]:
    with serve_in_thread(app) as url:
        yield url


@pytest.fixture
def state(app: Starlette) -> EmulatorState:
    emulator: EmulatorState = app.state.emulator
    emulator.reset()
    return emulator


@pytest.fixture
def info(state: EmulatorState) -> SeedInfo:
    return state.seed_info


@pytest.fixture
def polar(base_url: str, state: EmulatorState) -> Iterator[Polar]:
    with Polar(ORG_TOKEN, base_url=base_url) as client:
        yield client


@pytest.fixture
def raw(base_url: str, state: EmulatorState) -> Iterator[httpx2.Client]:
    """Plain HTTP, to see the bytes where the SDK cannot read them."""
    headers = {"Authorization": f"Bearer {ORG_TOKEN}", "Polar-Version": "2026-10"}
    with httpx2.Client(base_url=base_url, headers=headers) as client:
        yield client


def session_token(polar: Polar, info: SeedInfo, kind: str = "good_card") -> str:
    return polar.customer_sessions.create(customer_id=info.customers[kind]).token


def polar_error(exc: PolarClientError, status: int, name: str, detail: str) -> None:
    assert exc.status_code == status
    assert (exc.error.error, exc.error.detail) == (name, detail)


# Products, customers, customer sessions.


def test_products(polar: Polar, info: SeedInfo) -> None:
    page = polar.products.list(limit=100, is_archived=False, sorting=["name"])
    assert isinstance(page, outputs.ListResourceProduct) and len(page.items) == len(info.products)
    assert all(isinstance(p, outputs.Product) for p in page.items)
    assert len(list(polar.products.iter_list(limit=2))) == len(info.products)
    fixed = polar.products.get(info.products["one_time_fixed"])
    assert fixed.name == "Starter Pack" and fixed.is_deletable is False
    with pytest.raises(errors.ResourceNotFound) as missing:
        polar.products.get(UNKNOWN)
    polar_error(missing.value, 404, "ResourceNotFound", "Not found")
    with pytest.raises(errors.HTTPValidationError) as bad:
        polar.products.get("not-a-uuid")
    assert bad.value.error.detail and bad.value.error.detail[0].loc == ["path", "id"]


def test_customers_and_payment_methods(polar: Polar, info: SeedInfo) -> None:
    page = polar.customers.list(query="ada", limit=100)
    assert [c.email for c in page.items] == ["good-card@example.com"]
    customer = polar.customers.get(info.customers["good_card"])
    assert isinstance(customer, outputs.CustomerIndividual) and customer.billing_address is not None
    methods = polar.customers.list_payment_methods(info.customers["good_card"])
    assert [m.id for m in methods.items] == [info.payment_methods["good_card"]]
    assert isinstance(methods.items[0], outputs.CustomerPaymentMethodCard)
    assert len(list(polar.customers.iter_list(limit=3))) == polar.customers.list(limit=1).pagination.total_count
    with pytest.raises(errors.ResourceNotFound):
        polar.customers.get(UNKNOWN)
    with pytest.raises(errors.ResourceNotFound):
        polar.customers.list_payment_methods(UNKNOWN)


def test_customer_sessions(polar: Polar, info: SeedInfo) -> None:
    by_id = polar.customer_sessions.create(customer_id=info.customers["good_card"])
    by_external = polar.customer_sessions.create(external_customer_id="emu_sca_card")
    assert by_id.token.startswith("polar_cst_") and by_external.customer_id == info.customers["sca_card"]
    with pytest.raises(errors.HTTPValidationError) as unknown:
        polar.customer_sessions.create(customer_id=UNKNOWN)
    assert unknown.value.error.detail is not None
    assert [(e.loc, e.msg) for e in unknown.value.error.detail] == [
        (["body", "customer_id"], "Customer does not exist.")
    ]


# Orders.


def test_order_reads(polar: Polar, info: SeedInfo) -> None:
    page = polar.orders.list(limit=100, status=["paid", "refunded"], created_after="2025-01-01T00:00:00Z")
    assert isinstance(page, outputs.ListResourceOrder) and page.items
    assert {o.status for o in page.items} <= {"paid", "refunded"}
    assert all(o.units is None and o.items[0].start_timestamp is None for o in page.items)
    assert len(list(polar.orders.iter_list(limit=50))) == info.orders
    order = polar.orders.get(info.paid_order_id)
    assert isinstance(order, outputs.Order) and order.customer.email == "good-card@example.com"
    for order_id in info.orders_by_status.values():
        assert polar.orders.get(order_id).id == order_id
    csv = polar.orders.export(columns=["email", "net_amount"], status=["paid"])
    assert csv.splitlines()[0] == "Email,Net Amount"
    with pytest.raises(errors.ResourceNotFound):
        polar.orders.get(UNKNOWN)
    with pytest.raises(errors.HTTPValidationError) as bad:
        polar.orders.list(limit=0)
    assert bad.value.error.detail and bad.value.error.detail[0].loc == ["query", "limit"]


def test_order_create_and_update(polar: Polar, info: SeedInfo) -> None:
    draft = polar.orders.create(
        customer_id=info.customers["good_card"],
        product_id=info.products["one_time_fixed"],
        amount=2000,
        metadata={"ticket": "T-9"},
    )
    assert isinstance(draft, outputs.Order) and (draft.status, draft.total_amount) == ("draft", 2400)
    with pytest.raises(errors.HTTPValidationError) as custom:
        polar.orders.create(customer_id=info.customers["good_card"], product_id=info.products["one_time_custom"])
    assert custom.value.error.detail is not None
    assert custom.value.error.detail[0].msg == "Off-session charges only support fixed-price products."
    updated = polar.orders.update(draft.id, billing_name="Ada Good Ltd", billing_address=None)
    assert (updated.billing_name, updated.billing_address) == ("Ada Good Ltd", None)
    with pytest.raises(errors.HTTPValidationError) as moved:
        polar.orders.update(info.paid_order_id, billing_address={"country": "FR"})
    assert moved.value.error.detail is not None
    assert [e.msg for e in moved.value.error.detail] == ["Country cannot be changed"]
    with pytest.raises(errors.ResourceNotFound):
        polar.orders.update(UNKNOWN, billing_name="x")


def test_finalize(polar: Polar, info: SeedInfo, state: EmulatorState) -> None:
    paid = polar.orders.finalize(info.draft_orders["good_card"])
    assert (paid.status, paid.paid) == ("paid", True) and paid.invoice_number
    with pytest.raises(errors.OrderNotDraft) as again:
        polar.orders.finalize(paid.id)
    polar_error(
        again.value,
        412,
        "OrderNotDraft",
        f"Order {paid.id} is not in draft status (current: paid). Only draft orders can be modified or finalized.",
    )
    with pytest.raises(errors.OrdersFinalize402Error) as declined:
        polar.orders.finalize(info.draft_orders["declining_card"])
    assert isinstance(declined.value.error, outputs.PaymentFailed)
    polar_error(declined.value, 402, "PaymentFailed", "Payment failed with reason: card_error.")
    with pytest.raises(errors.OrdersFinalize402Error) as foreign:
        polar.orders.finalize(info.draft_orders["sca_card"], payment_method_id=info.payment_methods["good_card"])
    polar_error(foreign.value, 402, "PaymentFailed", "Payment failed with reason: missing_payment_method.")
    sca = info.draft_orders["sca_card"]
    with pytest.raises(errors.OrdersFinalize402Error) as action:
        polar.orders.finalize(sca)
    assert isinstance(action.value.error, outputs.PaymentActionRequired)
    state.set_organization(payments_ready=False)
    with pytest.raises(errors.OrdersFinalize403Error) as not_ready:
        polar.orders.finalize(sca)
    assert isinstance(not_ready.value.error, outputs.OrganizationNotReadyForPayments)
    state.set_organization(off_session_charges_enabled=False)
    with pytest.raises(errors.OrdersFinalize403Error) as disabled:
        polar.orders.finalize(sca)
    polar_error(
        disabled.value,
        403,
        "OffSessionChargesNotEnabled",
        f"Off-session charges are not enabled for this organization ({info.organization_id}). "
        "Contact Polar support to opt in.",
    )
    with pytest.raises(errors.ResourceNotFound):
        polar.orders.finalize(UNKNOWN)


def test_invoices(polar: Polar, raw: httpx2.Client, info: SeedInfo) -> None:
    order_id = info.paid_order_id
    # Polar's 404 here is InvoiceDoesNotExist, which the SDK's ResourceNotFound model refuses, against
    # real Polar as here: the SDK fails to decode, and the body is exactly Polar's.
    with pytest.raises(PolarDeserializationError):
        polar.orders.invoice(order_id)
    assert raw.get(f"/v1/orders/{order_id}/invoice").json() == {
        "error": "InvoiceDoesNotExist",
        "detail": f"No invoice exists for order {order_id}.",
    }
    assert polar.orders.generate_invoice(order_id) is None  # 202, body null
    first = polar.orders.get(order_id)
    invoice = polar.orders.invoice(order_id)
    assert isinstance(invoice, outputs.OrderInvoice) and invoice.url.startswith("http")
    # The billing details change after the invoice; the next request regenerates it with the same number.
    polar.orders.update(order_id, billing_name="Ada Good Ltd")
    polar.orders.generate_invoice(order_id)
    assert polar.orders.get(order_id).invoice_number == first.invoice_number
    assert b"Ada Good Ltd" in raw.get(polar.orders.invoice(order_id).url).content
    with pytest.raises(errors.OrderNotEligibleForInvoice) as draft:
        polar.orders.generate_invoice(info.draft_orders["good_card"])
    polar_error(
        draft.value,
        409,
        "OrderNotEligibleForInvoice",
        f"Order {info.draft_orders['good_card']} is not eligible for invoice generation (current status: draft).",
    )
    nameless = info.draft_orders["no_billing_address"]
    polar.orders.finalize(nameless)
    with pytest.raises(errors.MissingInvoiceBillingDetails) as missing:
        polar.orders.generate_invoice(nameless)
    polar_error(
        missing.value,
        422,
        "MissingInvoiceBillingDetails",
        "Billing name and address are required to generate an invoice for this order.",
    )


def test_receipts(polar: Polar, raw: httpx2.Client, info: SeedInfo) -> None:
    receipt = polar.orders.receipt(info.paid_order_id)
    assert isinstance(receipt, outputs.OrderReceipt) and receipt.url.startswith("http")
    order_id = info.draft_orders["good_card"]
    polar.orders.finalize(order_id)
    # While the PDF renders Polar answers 202 with an empty body, which the SDK's receipt() reads as
    # JSON and fails on, against real Polar as here. The emulator sends exactly that 202.
    with pytest.raises(json.JSONDecodeError):
        polar.orders.receipt(order_id)
    assert isinstance(polar.orders.receipt(order_id), outputs.OrderReceipt)
    draft = info.draft_orders["sca_card"]
    with pytest.raises(PolarDeserializationError):  # ReceiptNotAllocated, not ResourceNotFound
        polar.orders.receipt(draft)
    assert raw.get(f"/v1/orders/{draft}/receipt").json() == {
        "error": "ReceiptNotAllocated",
        "detail": f"No receipt allocated for order {draft}.",
    }


def test_a_receipt_still_rendering_is_an_empty_202(raw: httpx2.Client, info: SeedInfo) -> None:
    order_id = info.draft_orders["good_card"]
    raw.post(f"/v1/orders/{order_id}/finalize")
    rendering = raw.get(f"/v1/orders/{order_id}/receipt")
    assert (rendering.status_code, rendering.content, rendering.headers.get("content-type")) == (202, b"", None)


# Checkouts.


def test_checkouts_organization_side(polar: Polar, info: SeedInfo) -> None:
    page = polar.checkouts.list(limit=100)
    assert isinstance(page, outputs.ListResourceCheckout) and len(page.items) == 3
    assert all(c.units is None and c.min_units is None for c in page.items)
    assert len(list(polar.checkouts.iter_list(limit=1))) == 3
    created = polar.checkouts.create(
        products=[info.products["one_time_custom"], info.products["one_time_fixed"]],
        amount=2000,
        metadata={"ref": "abc"},
    )
    assert isinstance(created, outputs.Checkout) and created.amount == 2000
    assert polar.checkouts.get(created.id).metadata == {"ref": "abc"}
    updated = polar.checkouts.update(created.id, product_id=info.products["one_time_fixed"], customer_name="Zoe")
    assert (updated.amount, updated.customer_name) == (1250, "Zoe")
    with pytest.raises(errors.CheckoutsUpdate403Error) as closed:
        polar.checkouts.update(info.expired_checkout_id, customer_name="Zoe")
    assert isinstance(closed.value.error, outputs.NotOpenCheckout)
    polar_error(closed.value, 403, "NotOpenCheckout", f"Checkout {info.expired_checkout_id} is not open: expired")
    with pytest.raises(errors.ResourceNotFound):
        polar.checkouts.get(UNKNOWN)
    with pytest.raises(errors.HTTPValidationError):
        polar.checkouts.create(products=[UNKNOWN])


def test_checkouts_client_side(polar: Polar, info: SeedInfo, state: EmulatorState) -> None:
    created = polar.checkouts.create(products=[info.products["one_time_fixed"]])
    secret = created.client_secret
    public = polar.checkouts.client_get(secret)
    assert isinstance(public, outputs.CheckoutPublic) and public.organization.slug == "emulator-labs"
    with pytest.raises(errors.HTTPValidationError) as missing:
        polar.checkouts.client_confirm(secret)
    assert missing.value.error.detail is not None
    assert [(e.loc, e.msg) for e in missing.value.error.detail] == [
        (["body", "customer_email"], "Field is required."),
        (["body", "customer_billing_address"], "Field is required."),
        (["body", "customer_billing_address", "country"], "Field is required."),
        (["body", "confirmation_token_id"], "Confirmation token is required."),
    ]
    filled = polar.checkouts.client_update(
        secret, customer_email="zoe@example.com", customer_billing_address=US_ADDRESS
    )
    assert filled.customer_email == "zoe@example.com"
    with pytest.raises(errors.PaymentError) as declined:
        polar.checkouts.client_confirm(secret, confirmation_token_id="tok_chargeDeclined")
    polar_error(
        declined.value,
        400,
        "PaymentError",
        "The payment failed: Your card was declined. Please try again with a different payment method.",
    )
    state.set_organization(payments_ready=False)
    with pytest.raises(errors.CheckoutsClientConfirm403Error) as not_ready:
        polar.checkouts.client_confirm(secret, confirmation_token_id="tok_visa")
    assert isinstance(not_ready.value.error, outputs.PaymentNotReady)
    state.set_organization(payments_ready=True)
    confirmed = polar.checkouts.client_confirm(secret, confirmation_token_id="tok_visa")
    assert isinstance(confirmed, outputs.CheckoutPublicConfirmed) and confirmed.status == "confirmed"
    assert confirmed.customer_session_token and confirmed.customer_session_token.startswith("polar_cst_")
    with pytest.raises(errors.CheckoutsClientUpdate403Error) as closed:
        polar.checkouts.client_update(secret, customer_name="Zoe")
    assert isinstance(closed.value.error, outputs.NotOpenCheckout)
    with pytest.raises(errors.CheckoutsClientConfirm403Error):
        polar.checkouts.client_confirm(secret, confirmation_token_id="tok_visa")
    with pytest.raises(errors.ExpiredCheckoutError) as expired:
        polar.checkouts.client_get(info.expired_checkout_client_secret)
    polar_error(expired.value, 410, "ExpiredCheckoutError", "This checkout session has expired.")
    with pytest.raises(errors.ExpiredCheckoutError):
        polar.checkouts.client_update(info.expired_checkout_client_secret, customer_name="Zoe")
    with pytest.raises(errors.ExpiredCheckoutError):
        polar.checkouts.client_confirm(info.expired_checkout_client_secret, confirmation_token_id="tok_visa")
    with pytest.raises(errors.ResourceNotFound):
        polar.checkouts.client_get("polar_c_unknown")


def test_checkout_null_for_a_not_null_field_is_polars_500(polar: Polar, info: SeedInfo) -> None:
    created = polar.checkouts.create(products=[info.products["one_time_fixed"]])
    with pytest.raises(PolarServerError) as failed:
        polar.checkouts.update(created.id, allow_discount_codes=None)
    assert failed.value.status_code == 500
    assert polar.checkouts.get(created.id).allow_discount_codes is True


# The customer portal.


def test_customer_portal_orders(polar: Polar, raw: httpx2.Client, info: SeedInfo) -> None:
    token = session_token(polar, info)
    portal = polar.customer_portal.orders
    page = portal.list(limit=100, request_access_token=token)
    assert isinstance(page, outputs.ListResourceCustomerOrder) and page.items
    assert {o.customer_id for o in page.items} == {info.customers["good_card"]}
    assert len(list(portal.iter_list(limit=5, request_access_token=token))) == page.pagination.total_count
    order_id = info.paid_order_id
    order = portal.get(order_id, request_access_token=token)
    assert isinstance(order, outputs.CustomerOrder) and order.units is None
    renamed = portal.update(order_id, billing_name="Ada Good Ltd", request_access_token=token)
    assert renamed.billing_name == "Ada Good Ltd"
    assert portal.generate_invoice(order_id, request_access_token=token) is None
    assert portal.invoice(order_id, request_access_token=token).url.startswith("http")
    assert portal.receipt(order_id, request_access_token=token).url.startswith("http")
    status = portal.get_payment_status(order_id, request_access_token=token)
    assert isinstance(status, outputs.CustomerOrderPaymentStatus) and (status.status, status.error) == (
        "succeeded",
        None,
    )
    pending = info.orders_by_status["pending"]
    with pytest.raises(errors.OrderNotEligibleForRetry) as retry:
        portal.confirm_retry_payment(pending, confirmation_token_id="tok_visa", request_access_token=token)
    polar_error(retry.value, 422, "OrderNotEligibleForRetry", f"Order {pending} is not eligible for payment retry.")
    theirs = info.draft_orders["declining_card"]
    with pytest.raises(errors.ResourceNotFound):
        portal.get(theirs, request_access_token=token)
    with pytest.raises(errors.ResourceNotFound):
        portal.get_payment_status(theirs, request_access_token=token)
    with pytest.raises(errors.OrderNotEligibleForInvoice):
        portal.generate_invoice(info.draft_orders["good_card"], request_access_token=token)
    with pytest.raises(PolarDeserializationError):  # InvoiceDoesNotExist, as above
        portal.invoice(info.orders_by_status["pending"], request_access_token=token)


# Authentication, rate limits and versions: the SDK has no typed error for 401.


def test_auth_errors_and_rate_limits(base_url: str, polar: Polar, state: EmulatorState, info: SeedInfo) -> None:
    with Polar("polar_oat_unknown", base_url=base_url) as stranger, pytest.raises(PolarClientError) as invalid:
        stranger.orders.list()
    assert invalid.value.status_code == 401 and json.loads(invalid.value.error)["error"] == "invalid_token"
    with pytest.raises(PolarClientError) as portal_only:
        polar.orders.list(request_access_token=session_token(polar, info))
    assert portal_only.value.status_code == 401
    assert json.loads(portal_only.value.error) == {"error": "Unauthorized", "detail": "Unauthorized"}
    state.faults.add(kind="rate_limit", path="/v1/orders/", retry_after=7)
    with pytest.raises(PolarRateLimitError) as limited:
        polar.orders.list()
    assert limited.value.retry_after == 7


def test_the_2026_04_client_reads_the_same_answers(base_url: str, info: SeedInfo) -> None:
    with Polar2604(ORG_TOKEN, base_url=base_url) as old:
        assert old.version == "2026-04"
        assert old.orders.get(info.paid_order_id).id == info.paid_order_id
        assert old.checkouts.get(info.open_checkout_id).units is None
        assert old.products.get(info.products["one_time_fixed"]).is_deletable is False


def test_organization(polar: Polar, info: SeedInfo, state: EmulatorState) -> None:
    organization = polar.organizations.get(info.organization_id)
    assert isinstance(organization, outputs.Organization) and organization.capabilities.refunds is True
    state.set_organization(can_refund=False, payments_ready=False, off_session_charges_enabled=False)
    organization = polar.organizations.get(info.organization_id)
    assert (organization.capabilities.refunds, organization.capabilities.checkout_payments) == (False, False)
    assert organization.feature_settings is not None
    assert organization.feature_settings.off_session_charges_enabled is False
    with pytest.raises(errors.ResourceNotFound) as missing:
        polar.organizations.get(UNKNOWN)
    polar_error(missing.value, 404, "ResourceNotFound", "Not found")
