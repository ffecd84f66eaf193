"""Errors the emulator raises, each carrying Polar's error code, status and message."""

from __future__ import annotations

from typing import Any

# RFC 6750 wording, as Polar's OAuth2 error handler sends it.
INVALID_TOKEN_DESCRIPTION = "The access token provided is expired, revoked, malformed, or invalid for other reasons."
INSUFFICIENT_SCOPE_DESCRIPTION = "The request requires higher privileges than provided by the access token."


class PolarError(Exception):
    """An error Polar renders as `{"error": <class name>, "detail": <message>}`."""

    status: int = 400

    def __init__(self, detail: str, status: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if status is not None:
            self.status = status

    @property
    def error(self) -> str:
        return type(self).__name__

    def body(self) -> Any:
        return {"error": self.error, "detail": self.detail}

    def headers(self) -> dict[str, str]:
        return {}


class ResourceNotFound(PolarError):
    status = 404

    def __init__(self, detail: str = "Not found") -> None:
        super().__init__(detail)


class Unauthorized(PolarError):
    """No token, or a token of the wrong kind for the path (Polar: subject type not allowed)."""

    status = 401

    def __init__(self, detail: str = "Unauthorized") -> None:
        super().__init__(detail)

    def headers(self) -> dict[str, str]:
        # polar.exceptions.Unauthorized, with settings.WWW_AUTHENTICATE_REALM = "polar".
        return {"WWW-Authenticate": 'Bearer realm="polar"'}


class _OAuth2Error(PolarError):
    """Polar's OAuth2 errors use `error`/`error_description` and a WWW-Authenticate challenge.

    Authlib's (rfc6750 InvalidTokenError.get_headers) as Polar raises them (polar/oauth2/exceptions.py): the
    realm, then the extra attributes (the scope needed), then the error and its description.
    """

    code = ""

    def body(self) -> Any:
        return {"error": self.code, "error_description": self.detail}

    def attributes(self) -> dict[str, str]:
        return {}

    def headers(self) -> dict[str, str]:
        parts = {"realm": "polar", **self.attributes(), "error": self.code, "error_description": self.detail}
        return {"WWW-Authenticate": "Bearer " + ", ".join(f'{key}="{value}"' for key, value in parts.items())}


class InvalidToken(_OAuth2Error):
    status = 401
    code = "invalid_token"

    def __init__(self) -> None:
        super().__init__(INVALID_TOKEN_DESCRIPTION)


class InsufficientScope(_OAuth2Error):
    status = 403
    code = "insufficient_scope"

    def __init__(self, required: frozenset[str]) -> None:
        super().__init__(INSUFFICIENT_SCOPE_DESCRIPTION)
        self.required = required

    def attributes(self) -> dict[str, str]:
        return {"scope": " ".join(sorted(self.required))}


class VersionNotFound(PolarError):
    """An unknown `Polar-Version` selects no router at all: FastAPI's bare 404."""

    status = 404

    def __init__(self) -> None:
        super().__init__("Not Found")

    def body(self) -> Any:
        return {"detail": "Not Found"}


class RequestValidationError(PolarError):
    """FastAPI's 422: `detail` is a list of `{type, loc, msg, input[, ctx]}`."""

    status = 422

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("Validation error")
        self.errors = errors

    def body(self) -> Any:
        return {"error": self.error, "detail": self.errors}


class PolarRequestValidationError(RequestValidationError):
    """Polar's own 422 for rules checked in its services (unknown ids, immutable fields)."""


def invalid(loc: tuple[str | int, ...], msg: str, value: Any, kind: str = "value_error") -> PolarRequestValidationError:
    """One of Polar's service-level 422s. Polar builds them as pydantic custom errors, which keep
    no `ctx`: the body has exactly `type`, `loc`, `msg` and `input`."""
    return PolarRequestValidationError([{"type": kind, "loc": list(loc), "msg": msg, "input": value}])


# The messages below are Polar's own (server/polar/order/service.py, checkout/service.py,
# customer_portal/service/order.py, exceptions.py), so an integration matching on them learns
# the real text.


class OrderNotDraft(PolarError):
    status = 412

    def __init__(self, order_id: str, status: str) -> None:
        super().__init__(
            f"Order {order_id} is not in draft status (current: {status}). "
            "Only draft orders can be modified or finalized."
        )


class PaymentFailed(PolarError):
    """`reason` is Polar's PaymentFailedReason: `card_error` or `missing_payment_method`."""

    status = 402

    def __init__(self, reason: str) -> None:
        super().__init__(f"Payment failed with reason: {reason}.")


class PaymentActionRequired(PolarError):
    status = 402

    def __init__(self, order_id: str) -> None:
        super().__init__(
            f"Order {order_id} payment requires customer authentication "
            "(e.g. 3DS challenge); off-session charge cannot complete."
        )


class OffSessionChargesNotEnabled(PolarError):
    status = 403

    def __init__(self, organization_id: str) -> None:
        super().__init__(
            f"Off-session charges are not enabled for this organization ({organization_id}). "
            "Contact Polar support to opt in."
        )


class OrganizationNotReadyForPayments(PolarError):
    status = 403

    def __init__(self, organization_id: str) -> None:
        super().__init__(
            f"This organization ({organization_id}) can't accept payments yet. "
            "Its account may be pending onboarding or under review."
        )


class PaymentNotReady(PolarError):
    status = 403

    def __init__(self) -> None:
        super().__init__("Organization is not ready to accept payments")


class OrderNotEligibleForInvoice(PolarError):
    status = 409

    def __init__(self, order_id: str, status: str) -> None:
        super().__init__(f"Order {order_id} is not eligible for invoice generation (current status: {status}).")


class MissingInvoiceBillingDetails(PolarError):
    status = 422

    def __init__(self) -> None:
        super().__init__("Billing name and address are required to generate an invoice for this order.")


class InvoiceDoesNotExist(PolarError):
    status = 404

    def __init__(self, order_id: str) -> None:
        super().__init__(f"No invoice exists for order {order_id}.")


class ReceiptNotAllocated(PolarError):
    status = 404

    def __init__(self, order_id: str) -> None:
        super().__init__(f"No receipt allocated for order {order_id}.")


class OrderNotEligibleForRetry(PolarError):
    status = 422

    def __init__(self, order_id: str) -> None:
        super().__init__(f"Order {order_id} is not eligible for payment retry.")


class ExpiredCheckoutError(PolarError):
    status = 410

    def __init__(self) -> None:
        super().__init__("This checkout session has expired.")


class NotOpenCheckout(PolarError):
    status = 403

    def __init__(self, checkout_id: str, status: str) -> None:
        super().__init__(f"Checkout {checkout_id} is not open: {status}")


class PaymentError(PolarError):
    status = 400

    def __init__(self, error: str | None) -> None:
        # Polar puts the processor's message (Stripe's, e.g. "Your card was declined.") in the middle.
        super().__init__(
            f"The payment failed{f': {error}' if error else '.'} Please try again with a different payment method."
        )


class NotNullViolation(Exception):
    """A write Polar's code attempts but its database refuses (a NULL in a NOT NULL column):
    Polar answers with a bare 500 and changes nothing."""

    def __init__(self, column: str) -> None:
        super().__init__(f"null value in column {column!r} violates not-null constraint")
        self.column = column


# Refunds (polar/refund/service.py): messages as Polar words them.


class RefundsBlocked(PolarError):
    status = 403

    def __init__(self, order_id: str) -> None:
        super().__init__(f"Refunds are blocked for order: {order_id}")


class RefundedAlready(PolarError):
    status = 403

    def __init__(self, order_id: str) -> None:
        super().__init__(f"Order is already fully refunded: {order_id}")


class RefundDisputedPayment(PolarError):
    status = 403

    def __init__(self, order_id: str) -> None:
        super().__init__(f"Refund cannot be issued for order with disputed payment: {order_id}")


class RevokeSubscriptionBenefitsProhibited(PolarError):
    status = 400

    def __init__(self) -> None:
        super().__init__("Subscription benefits can only be revoked upon cancellation")


class RefundUnknownPayment(ResourceNotFound):
    def __init__(self, order_id: str) -> None:
        super().__init__(f"Refund issued for unknown order: {order_id}")


# Subscriptions (polar/subscription/service.py) and Polar's generic errors its uncancel raises.


class AlreadyCanceledSubscription(PolarError):
    status = 403

    def __init__(self) -> None:
        super().__init__("This subscription is already canceled or will be at the end of the period.")


class ResourceUnavailable(PolarError):
    status = 410

    def __init__(self) -> None:
        super().__init__("Unavailable")


class BadRequest(PolarError):
    status = 400

    def __init__(self) -> None:
        super().__init__("Bad request")


# Disputes (polar/dispute/service.py).


class DisputeNotOpenError(PolarError):
    status = 409

    def __init__(self, dispute_id: str) -> None:
        super().__init__(f"Dispute {dispute_id} is not awaiting a response.")
