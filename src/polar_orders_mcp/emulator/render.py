"""Records → the JSON shapes of Polar's spec (Order, Product, Checkout…), built only when sent."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from .models import (
    Checkout,
    Customer,
    CustomerSession,
    Discount,
    Dispute,
    Order,
    Organization,
    PaymentMethod,
    Price,
    Product,
    Refund,
    Subscription,
)
from .store import Page

T = TypeVar("T")
Json = dict[str, Any]
ITEM_NAMESPACE = uuid.UUID("6f1d7a52-6a0e-4c1a-9f57-2f8f4f3b9d10")


def iso(moment: datetime | None) -> str | None:
    """Pydantic's rendering of an aware UTC datetime: `…Z`."""
    if moment is None:
        return None
    return moment.isoformat().replace("+00:00", "Z")


def default_success_url(client_secret: str) -> str:
    """Polar's own confirmation page of a checkout: its success_url when none was given, or after null."""
    return f"/_emulator/checkouts/{client_secret}/confirmation"


def success_url(c: Checkout, base: str) -> str:
    """Polar's `Checkout.success_url`: its own page when none is set, else the URL with the checkout's id
    in place of `{CHECKOUT_ID}`."""
    if c.success_url is None:
        return absolute(base, default_success_url(c.client_secret))
    return absolute(base, c.success_url.replace("{CHECKOUT_ID}", c.id))


def absolute(base: str, url: str) -> str:
    return base + url if url.startswith("/") else url


def page(result: Page[T], item: Callable[[T], Json]) -> Json:
    return {
        "items": [item(x) for x in result.items],
        "pagination": {"total_count": result.total_count, "max_page": result.max_page},
    }


def price(p: Price) -> Json:
    out: Json = {
        "created_at": iso(p.created_at),
        "modified_at": None,
        "id": p.id,
        "source": "catalog",
        "amount_type": p.amount_type,
        "price_currency": p.currency,
        "tax_behavior": None,
        "is_archived": False,
        "product_id": p.product_id,
    }
    if p.amount_type == "fixed":
        out["price_amount"] = p.price_amount
    else:
        out.update(minimum_amount=p.minimum_amount, maximum_amount=p.maximum_amount, preset_amount=p.preset_amount)
    return out


def _product_base(p: Product) -> Json:
    return {
        "metadata": p.metadata,
        "id": p.id,
        "created_at": iso(p.created_at),
        "modified_at": None,
        "trial_interval": None,
        "trial_interval_count": None,
        "name": p.name,
        "description": p.description,
        "visibility": p.visibility,
        "recurring_interval": p.recurring_interval,
        "recurring_interval_count": 1 if p.is_recurring else None,
        "meter_interval": None,
        "meter_interval_count": None,
        "is_recurring": p.is_recurring,
        "is_archived": p.is_archived,
        "organization_id": p.organization_id,
    }


def product(p: Product) -> Json:
    return {
        **_product_base(p),
        "is_deletable": p.is_deletable,
        "prices": [price(x) for x in p.prices],
        "benefits": [],
        "medias": [],
        "attached_custom_fields": [],
    }


def _checkout_product(p: Product) -> Json:
    out = _product_base(p)
    del out["metadata"]
    return {**out, "prices": [price(x) for x in p.prices], "benefits": [], "medias": []}


def _organization(org: Organization) -> Json:
    return {
        "created_at": iso(org.created_at),
        "modified_at": None,
        "id": org.id,
        "name": org.name,
        "slug": org.slug,
        "avatar_url": None,
        "proration_behavior": "prorate",
        "allow_customer_updates": True,
    }


# Polar's OrganizationFeatureSettings, all false by default; the emulator models only off-session charges.
FEATURE_SETTINGS = (
    "issue_funding_enabled",
    "seat_based_pricing_enabled",
    "unit_based_pricing_enabled",
    "wallets_enabled",
    "member_model_enabled",
    "checkout_localization_enabled",
    "reset_proration_behavior_enabled",
    "off_session_charges_enabled",
    "meter_cycling_enabled",
    "slack_benefit_enabled",
    "preview_access_enabled",
    "disputes_enabled",
    "sso_enabled",
    "dispute_auto_accept_enabled",
    "compass_enabled",
    "merchant_migration_enabled",
)
CUSTOMER_EMAILS = (
    "order_confirmation",
    "payment_method_expiration_reminder",
    "subscription_cancellation",
    "subscription_confirmation",
    "subscription_cycled",
    "subscription_cycled_after_trial",
    "subscription_past_due",
    "subscription_paused",
    "subscription_resumed",
    "subscription_renewal_reminder",
    "subscription_revoked",
    "subscription_trial_conversion_reminder",
    "subscription_uncanceled",
    "subscription_updated",
)


def organization(org: Organization) -> Json:
    """`GET /v1/organizations/{id}`: Polar's Organization. Its capabilities are an active organization's, but
    for the ones the control plane turns off (`payments_ready` is `checkout_payments`, `can_refund` is
    `refunds`), as Polar's staff can set each one apart from the status."""
    features: Json = {name: False for name in FEATURE_SETTINGS}
    features.update(
        overview_metrics=None, off_session_charges_enabled=org.off_session_charges_enabled, disputes_enabled=True
    )
    return {
        **_organization(org),
        "email": None,
        "website": None,
        "socials": [],
        "status": "active",
        "details_submitted_at": iso(org.created_at),
        "onboarding_resubmission_requested_at": None,
        "sso_enforced": False,
        "default_presentment_currency": "usd",
        "default_tax_behavior": "exclusive",
        "feature_settings": features,
        "subscription_settings": {
            "allow_multiple_subscriptions": False,
            "proration_behavior": "prorate",
            "benefit_revocation_grace_period": 0,
            "prevent_trial_abuse": False,
            "allow_customer_updates": True,
        },
        "customer_email_settings": {name: True for name in CUSTOMER_EMAILS},
        "customer_portal_settings": _customer_organization(org)["customer_portal_settings"],
        "dispute_settings": {"auto_accept_below_amount": None},
        "embed_hosts": [],
        "embed_hosts_enforced": False,
        "country": "US",
        "account_id": None,
        "payout_account_id": None,
        "capabilities": {
            "checkout_payments": org.payments_ready,
            "subscription_renewals": True,
            "payouts": True,
            "refunds": org.can_refund,
            "api_access": True,
            "dashboard_access": True,
        },
    }


def _customer_organization(org: Organization) -> Json:
    return {
        **_organization(org),
        "customer_portal_settings": {
            "usage": {"show": True},
            "subscription": {"update_seats": True, "update_plan": True},
        },
    }


def customer(c: Customer) -> Json:
    return {
        "id": c.id,
        "created_at": iso(c.created_at),
        "modified_at": None,
        "metadata": c.metadata,
        "external_id": c.external_id,
        "email": c.email,
        "email_verified": True,
        "type": "individual",
        "name": c.name,
        "billing_name": c.billing_name,
        "billing_address": c.billing_address,
        "tax_id": None,
        "locale": None,
        "organization_id": c.organization_id,
        "default_payment_method_id": c.default_payment_method_id,
        "deleted_at": None,
        "first_user_event_at": None,
        "avatar_url": None,
    }


def payment_method(pm: PaymentMethod, default_id: str | None) -> Json:
    return {
        "id": pm.id,
        "created_at": iso(pm.created_at),
        "modified_at": None,
        "processor": "stripe",
        "customer_id": pm.customer_id,
        "type": "card",
        "method_metadata": {
            "brand": pm.brand,
            "last4": pm.last4,
            "exp_month": pm.exp_month,
            "exp_year": pm.exp_year,
            "wallet": None,
        },
        "is_default": pm.id == default_id,
    }


def _discount(d: Discount) -> Json:
    return {
        "duration": "once",
        "type": "percentage",
        "basis_points": d.basis_points,
        "created_at": iso(d.created_at),
        "modified_at": None,
        "id": d.id,
        "metadata": {},
        "name": d.name,
        "code": d.code,
        "starts_at": None,
        "ends_at": None,
        "max_redemptions": None,
        "max_redemptions_per_customer": None,
        "redemptions_count": 0,
        "organization_id": d.organization_id,
    }


def _subscription(s: Subscription) -> Json:
    return {
        "metadata": s.metadata,
        "created_at": iso(s.created_at),
        "modified_at": iso(s.modified_at),
        "id": s.id,
        "amount": s.amount,
        "currency": s.currency,
        "recurring_interval": s.recurring_interval,
        "recurring_interval_count": 1,
        "status": s.status,
        "current_period_start": iso(s.current_period_start),
        "current_period_end": iso(s.current_period_end),
        "current_meter_period_start": None,
        "current_meter_period_end": None,
        "trial_start": None,
        "trial_end": None,
        "cancel_at_period_end": s.cancel_at_period_end,
        "canceled_at": iso(s.canceled_at),
        "started_at": iso(s.created_at),
        "ends_at": iso(s.ends_at),
        "ended_at": iso(s.ended_at),
        "past_due_at": None,
        "pause_at_period_end": False,
        "paused_at": None,
        "resumes_at": None,
        "customer_id": s.customer_id,
        "product_id": s.product_id,
        "discount_id": None,
        "checkout_id": None,
        "seats": None,
        "units": None,
        "customer_cancellation_reason": s.customer_cancellation_reason,
        "customer_cancellation_comment": s.customer_cancellation_comment,
    }


def _order_common(o: Order) -> Json:
    paid = o.paid
    return {
        "id": o.id,
        "created_at": iso(o.created_at),
        "modified_at": iso(o.modified_at),
        "status": o.status,
        "paid": paid,
        "subtotal_amount": o.subtotal_amount,
        "discount_amount": o.discount_amount,
        "net_amount": o.net_amount,
        "tax_amount": o.tax_amount,
        "total_amount": o.total_amount,
        "applied_balance_amount": o.applied_balance_amount,
        "due_amount": max(0, o.total_amount + o.applied_balance_amount),
        "refunded_amount": o.refunded_amount,
        "refunded_tax_amount": o.refunded_tax_amount,
        "currency": o.currency,
        "billing_reason": o.billing_reason,
        "billing_name": o.billing_name,
        "billing_address": o.billing_address,
        "invoice_number": o.invoice_number,
        "is_invoice_generated": o.is_invoice_generated,
        "receipt_number": o.receipt_number,
        "seats": None,
        "units": o.units,
        "customer_id": o.customer.id,
        "product_id": o.product.id,
        "discount_id": o.discount.id if o.discount else None,
        "subscription_id": o.subscription.id if o.subscription else None,
        "checkout_id": o.checkout_id,
        "next_payment_attempt_at": None,
        "items": [
            {
                "created_at": iso(o.created_at),
                "modified_at": None,
                "id": str(uuid.uuid5(ITEM_NAMESPACE, o.id)),
                "label": o.description,
                "amount": o.subtotal_amount,
                "tax_amount": o.tax_amount,
                "proration": False,
                "product_price_id": o.price.id,
                "start_timestamp": None,
                "end_timestamp": None,
            }
        ],
        "description": o.description,
        # Polar computes these from the amounts whatever the status, unpaid orders included.
        "refundable_amount": o.refundable_amount,
        "refundable_tax_amount": o.refundable_tax_amount,
    }


def order(o: Order) -> Json:
    return {
        **_order_common(o),
        "metadata": o.metadata,
        "custom_field_data": o.custom_field_data,
        "platform_fee_amount": o.platform_fee_amount,
        "platform_fee_currency": "usd" if o.paid else None,
        "customer": customer(o.customer),
        "product": _product_base(o.product),
        "discount": _discount(o.discount) if o.discount else None,
        "subscription": _subscription(o.subscription) if o.subscription else None,
    }


def customer_order(o: Order, org: Organization) -> Json:
    subscription = _subscription(o.subscription) if o.subscription else None
    if subscription is not None:
        del subscription["metadata"]
    return {
        **_order_common(o),
        "product": {**_checkout_product(o.product), "organization": _customer_organization(org)},
        "subscription": subscription,
    }


def _checkout_common(c: Checkout, base: str) -> Json:
    tax = c.tax_amount
    required = c.is_payment_required
    return {
        "id": c.id,
        "created_at": iso(c.created_at),
        "modified_at": iso(c.modified_at),
        "custom_field_data": c.custom_field_data,
        "payment_processor": "stripe",
        "status": c.status,
        "client_secret": c.client_secret,
        "url": f"{base}/_emulator/checkouts/{c.client_secret}",
        "expires_at": iso(c.expires_at),
        "success_url": success_url(c, base),
        "return_url": c.return_url,
        "embed_origin": c.embed_origin,
        "amount": c.amount,
        "seats": None,
        "min_seats": None,
        "max_seats": None,
        "units": None,
        "min_units": None,
        "max_units": None,
        "discount_amount": 0,
        "net_amount": c.amount,
        "tax_amount": tax,
        "tax_behavior": "exclusive",
        "total_amount": c.amount + (tax or 0),
        "currency": c.currency,
        "allow_trial": c.allow_trial,
        "active_trial_interval": None,
        "active_trial_interval_count": None,
        "trial_end": None,
        "organization_id": c.organization_id,
        "product_id": c.product.id,
        "product_price_id": c.price.id,
        "discount_id": None,
        "allow_discount_codes": c.allow_discount_codes,
        "require_billing_address": c.require_billing_address,
        "is_discount_applicable": required,
        "is_free_product_price": c.price.amount_type == "fixed" and c.price.price_amount == 0,
        "is_payment_required": required,
        "is_payment_setup_required": c.is_payment_setup_required,
        "is_payment_form_required": c.is_payment_form_required,
        "customer_id": c.customer.id if c.customer else None,
        "is_business_customer": c.is_business_customer,
        "customer_name": c.customer_name,
        "customer_email": c.customer_email,
        "customer_ip_address": c.customer_ip_address,
        "customer_billing_name": c.customer_billing_name,
        "customer_billing_address": c.customer_billing_address,
        "customer_tax_id": c.customer_tax_id,
        "locale": c.locale,
        "payment_method_type": None,
        "payment_processor_metadata": {"publishable_key": "pk_test_emulator"},
        "billing_address_fields": c.billing_address_modes(),
        "products": [_checkout_product(p) for p in c.products],
        "product": _checkout_product(c.product),
        "product_price": price(c.price),
        "prices": {p.id: [price(x) for x in p.prices] for p in c.products},
        "discount": None,
        "attached_custom_fields": [],
    }


def checkout(c: Checkout, base: str) -> Json:
    return {
        **_checkout_common(c, base),
        "trial_interval": None,
        "trial_interval_count": None,
        "metadata": c.metadata,
        "external_customer_id": c.external_customer_id,
        "subscription_id": None,
        "customer_metadata": c.customer_metadata,
    }


def checkout_public(c: Checkout, org: Organization, base: str) -> Json:
    return {**_checkout_common(c, base), "organization": _organization(org)}


def checkout_confirmed(c: Checkout, org: Organization, base: str, session_token: str) -> Json:
    return {**checkout_public(c, org, base), "customer_session_token": session_token}


def customer_session(s: CustomerSession, org: Organization, base: str) -> Json:
    return {
        "created_at": iso(s.created_at),
        "modified_at": None,
        "id": s.id,
        "token": s.token,
        "expires_at": iso(s.expires_at),
        "return_url": s.return_url,
        "customer_portal_url": f"{base}/_emulator/portal/{org.slug}?customer_session_token={s.token}",
        "customer_id": s.customer.id,
        "customer": customer(s.customer),
    }


def subscription(s: Subscription, c: Customer, p: Product) -> Json:
    """The organization API's full Subscription: its customer, product and prices inline."""
    return {
        **_subscription(s),
        "custom_field_data": {},
        "customer": customer(c),
        "product": product(p),
        "discount": None,
        "prices": [price(x) for x in p.prices],
        "meters": [],
        "pending_update": None,
    }


def refund(r: Refund) -> Json:
    o = r.order
    return {
        "created_at": iso(r.created_at),
        "modified_at": iso(r.modified_at),
        "id": r.id,
        "metadata": r.metadata,
        "status": r.status,
        "reason": r.reason,
        "amount": r.amount,
        "tax_amount": r.tax_amount,
        "currency": o.currency,
        "organization_id": o.customer.organization_id,
        "order_id": o.id,
        "subscription_id": o.subscription.id if o.subscription else None,
        "customer_id": o.customer.id,
        "revoke_benefits": r.revoke_benefits,
        "dispute": None,
    }


def dispute(d: Dispute) -> Json:
    return {
        "created_at": iso(d.created_at),
        "modified_at": iso(d.modified_at),
        "id": d.id,
        "status": d.status,
        "resolved": d.resolved,
        "closed": d.closed,
        "amount": d.amount,
        "tax_amount": d.tax_amount,
        "currency": d.order.currency,
        "reason": d.reason,
        "evidence_due_by": iso(d.evidence_due_by),
        "past_due": d.past_due,
        "order_id": d.order.id,
        "payment_id": d.payment_id,
        "customer": customer(d.order.customer),
        "case_id": None,
    }
