"""Orders against the emulator: lists and filters, the draft → paid flow, invoices, receipts, export."""

from __future__ import annotations

from datetime import datetime

import anyio
import pytest

from polar_orders_mcp.polar import errors
from polar_orders_mcp.polar.client import PolarClient
from tests.polar.conftest import ORDERS, Emulator

pytestmark = pytest.mark.anyio

ADDRESS = {"line1": "1 Rue de Rivoli", "city": "Paris", "postal_code": "75001", "country": "FR"}


async def test_list_first_page_newest_first(polar: PolarClient) -> None:
    page = await polar.orders.list()
    assert len(page.items) == 10
    assert (page.page, page.total_count, page.max_page) == (1, ORDERS, -(-ORDERS // 10))
    created = [o.created_at for o in page.items]
    assert created == sorted(created, reverse=True)


async def test_list_filters(polar: PolarClient, emulator: Emulator) -> None:
    good = emulator.seed["customers"]["good_card"]
    mine = await polar.orders.list(customer_id=good, limit=100)
    assert mine.items and {o.customer_id for o in mine.items} == {good}
    drafts = await polar.orders.list(status="draft", metadata={"kind": "draft"}, limit=100)
    assert {o.id for o in drafts.items} == set(emulator.seed["draft_orders"].values())
    several = await polar.orders.list(status=["refunded", "partially_refunded"], customer_id=[good], limit=100)
    assert {o.status for o in several.items} == {"refunded", "partially_refunded"}
    by_external = await polar.orders.list(external_customer_id="emu_good_card", limit=100)
    assert {o.id for o in by_external.items} == {o.id for o in mine.items}


async def test_list_sorting_and_dates(polar: PolarClient) -> None:
    cheapest = await polar.orders.list(sorting=["net_amount"], limit=100)
    amounts = [o.net_amount for o in cheapest.items]
    assert amounts == sorted(amounts)
    middle = (await polar.orders.list(page=3, limit=10)).items[0].created_at
    after = await polar.orders.list(created_after=middle, limit=100)
    assert after.items and all(o.created_at > middle for o in after.items)
    before = await polar.orders.list(created_before=middle.isoformat(), limit=100)
    assert all(o.created_at < middle for o in before.items)


async def test_iterate_reads_every_order_once(polar: PolarClient) -> None:
    ids = [order.id async for order in polar.orders.iterate(limit=7)]
    assert len(ids) == len(set(ids)) == ORDERS


async def test_iterate_empty(polar: PolarClient) -> None:
    assert [o async for o in polar.orders.iterate(customer_id="00000000-0000-4000-8000-000000000000")] == []


async def test_get(polar: PolarClient, emulator: Emulator) -> None:
    order = await polar.orders.get(emulator.seed["paid_order_id"])
    assert order.status == "paid" and order.paid
    assert order.customer is not None and order.customer.id == order.customer_id
    assert order.product is not None and order.product.id == order.product_id
    assert order.total_amount == order.net_amount + order.tax_amount


async def test_get_unknown_is_resource_not_found(polar: PolarClient) -> None:
    with pytest.raises(errors.NotFoundError) as caught:
        await polar.orders.get("00000000-0000-4000-8000-000000000000")
    assert caught.value.code == "ResourceNotFound"


async def test_draft_charge_receipt_and_invoice(polar: PolarClient, emulator: Emulator) -> None:
    await emulator.settings(receipt_render_polls=1)
    draft = await polar.orders.create(
        customer_id=emulator.seed["customers"]["good_card"],
        product_id=emulator.seed["products"]["one_time_fixed"],
        description="Replacement kit",
        metadata={"ticket": "T-42"},
    )
    assert (draft.status, draft.paid, draft.metadata) == ("draft", False, {"ticket": "T-42"})
    with pytest.raises(errors.NotFoundError) as no_receipt:
        await polar.orders.get_receipt(draft.id)
    assert no_receipt.value.code == "ReceiptNotAllocated"
    with pytest.raises(errors.ConflictError) as draft_invoice:
        await polar.orders.generate_invoice(draft.id)
    assert draft_invoice.value.code == "OrderNotEligibleForInvoice"

    paid = await polar.orders.finalize(draft.id)
    assert (paid.status, paid.paid) == ("paid", True)
    assert (await polar.orders.get_receipt(draft.id)).pending is True
    receipt = await polar.orders.get_receipt(draft.id)
    assert receipt.pending is False and receipt.url

    with pytest.raises(errors.NotFoundError) as no_invoice:
        await polar.orders.get_invoice(draft.id)
    assert no_invoice.value.code == "InvoiceDoesNotExist"
    await polar.orders.generate_invoice(draft.id)
    assert (await polar.orders.get_invoice(draft.id)).url
    assert (await polar.orders.get(draft.id)).is_invoice_generated


async def test_create_for_a_customer_without_address_is_a_validation_error(
    polar: PolarClient, emulator: Emulator
) -> None:
    with pytest.raises(errors.UnprocessableEntityError) as caught:
        await polar.orders.create(
            customer_id=emulator.seed["customers"]["no_billing_address"],
            product_id=emulator.seed["products"]["one_time_fixed"],
        )
    # Polar's own service-level validation (not FastAPI's schema check) names its class.
    assert caught.value.code == "PolarRequestValidationError"
    assert isinstance(caught.value.detail, list)
    assert caught.value.detail[0]["loc"] == ["body", "customer_id"]


async def test_create_without_off_session_charges(polar: PolarClient, emulator: Emulator) -> None:
    await emulator.organization(off_session_charges_enabled=False)
    with pytest.raises(errors.PermissionDeniedError) as caught:
        await polar.orders.create(
            customer_id=emulator.seed["customers"]["good_card"],
            product_id=emulator.seed["products"]["one_time_fixed"],
        )
    assert caught.value.code == "OffSessionChargesNotEnabled"
    assert "off-session" in caught.value.hint


@pytest.mark.parametrize(("kind", "code"), [("declining_card", "PaymentFailed"), ("sca_card", "PaymentActionRequired")])
async def test_finalize_failures_leave_a_draft(polar: PolarClient, emulator: Emulator, kind: str, code: str) -> None:
    order_id = emulator.seed["draft_orders"][kind]
    with pytest.raises(errors.PaymentRequiredError) as caught:
        await polar.orders.finalize(order_id)
    assert caught.value.code == code
    assert "nothing was charged" in caught.value.hint
    assert (await polar.orders.get(order_id)).status == "draft"


async def test_finalize_with_a_chosen_payment_method(polar: PolarClient, emulator: Emulator) -> None:
    order_id = emulator.seed["draft_orders"]["declining_card"]
    customer = emulator.seed["customers"]["declining_card"]
    methods = await polar.customers.payment_methods(customer)
    with pytest.raises(errors.PaymentRequiredError):
        await polar.orders.finalize(order_id, payment_method_id=methods[0].id)


async def test_finalize_twice_is_order_not_draft(polar: PolarClient, emulator: Emulator) -> None:
    with pytest.raises(errors.PreconditionFailedError) as caught:
        await polar.orders.finalize(emulator.seed["paid_order_id"])
    assert caught.value.code == "OrderNotDraft"


async def test_concurrent_finalize_charges_once(polar: PolarClient, emulator: Emulator) -> None:
    order_id = emulator.seed["draft_orders"]["good_card"]
    outcomes: list[object] = []

    async def finalize() -> None:
        try:
            outcomes.append(await polar.orders.finalize(order_id))
        except errors.PreconditionFailedError as error:
            outcomes.append(error)

    async with anyio.create_task_group() as tg:
        tg.start_soon(finalize)
        tg.start_soon(finalize)
    assert sorted(type(o).__name__ for o in outcomes) == ["Order", "PreconditionFailedError"]


async def test_update_billing_details(polar: PolarClient, emulator: Emulator) -> None:
    order_id = emulator.seed["orders_by_status"]["paid"]
    order = await polar.orders.get(order_id)
    assert order.billing_address is not None
    address = {**order.billing_address.model_dump(), "line1": "2 New Street"}
    updated = await polar.orders.update(order_id, billing_name="ACME Ltd", billing_address=address)
    assert updated.billing_name == "ACME Ltd"
    assert updated.billing_address is not None and updated.billing_address.line1 == "2 New Street"
    with pytest.raises(errors.UnprocessableEntityError):
        await polar.orders.update(order_id, billing_address={**address, "country": "JP"})


async def test_export(polar: PolarClient, emulator: Emulator) -> None:
    text = await polar.orders.export_text()
    lines = text.strip().splitlines()
    assert lines[0].split(",")[:2] == ["Email", "Created At"]  # headers are labels, not column ids
    assert len(lines) == ORDERS + 1
    rows = await polar.orders.export_rows(columns=["email", "status", "net_amount"], status="paid")
    assert rows and list(rows[0]) == ["Email", "Status", "Net Amount"]
    assert {row["Status"] for row in rows} == {"paid"}
    chunks = [chunk async for chunk in polar.orders.export(timezone="Europe/Paris", columns=["created_at"])]
    assert "".join(chunks).startswith("Created At")


async def test_export_dates(polar: PolarClient) -> None:
    cutoff = datetime.fromisoformat("2026-06-01T00:00:00+00:00")
    rows = await polar.orders.export_rows(columns=["created_at"], created_after=cutoff)
    everything = await polar.orders.export_rows(columns=["created_at"])
    assert 0 < len(rows) < len(everything)
