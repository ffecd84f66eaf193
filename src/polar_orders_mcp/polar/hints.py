"""What to do next after each Polar error: hints by error code, then by HTTP status."""

from __future__ import annotations

from typing import Any

# Hints for Polar's own error codes (the `error` field). Codes are opaque strings:
# unknown ones fall back to the status hint below.
CODE_HINTS: dict[str, str] = {
    "PaymentFailed": (
        "The charge was declined and the order stays a draft; nothing was charged. Try another "
        "payment method of the customer, or ask the customer to update theirs."
    ),
    "PaymentActionRequired": (
        "The card needs the customer to authenticate (e.g. 3-D Secure), which cannot happen "
        "off-session; nothing was charged. Send the customer a checkout link instead."
    ),
    "PaymentError": "The payment did not go through; nothing was charged. The customer can try again.",
    "OffSessionChargesNotEnabled": (
        "The organization has not enabled off-session charges in Polar, which draft orders need. "
        "An organization admin must enable them; until then use a checkout link."
    ),
    "OrganizationNotReadyForPayments": (
        "The organization's payment account is not ready; finish its payout account setup in Polar."
    ),
    "OrderNotDraft": (
        "The order is not a draft any more (it may have just been finalized by another call). "
        "Re-read the order before doing anything else; do not charge it again."
    ),
    "OrderNotEligibleForInvoice": (
        "Invoices exist only for orders that are neither draft nor void; check the order's status."
    ),
    "MissingInvoiceBillingDetails": (
        "Set the order's billing name and billing address first (update the order), then ask for the invoice again."
    ),
    "InvoiceDoesNotExist": (
        "No invoice exists for this order yet: generate one first. Right after it is requested Polar answers "
        "this too, for a few seconds, while it makes the invoice."
    ),
    "ReceiptNotAllocated": "The order has no succeeded payment, so it has no receipt.",
    "ResourceNotFound": ("Check the id: it may be mistyped, or belong to another organization or environment."),
    "ExpiredCheckoutError": "The checkout session has expired; create a new checkout.",
    "NotOpenCheckout": "The checkout is no longer open; create a new checkout.",
    "AlreadyActiveSubscriptionError": "The customer already has an active subscription to this product.",
    "NotPermitted": "This organization or token may not perform this action.",
    "PaymentAlreadyInProgress": "A payment for this order is already being processed; check again shortly.",
    "PaymentNotReady": "The payment is not ready yet; try again shortly.",
    "RequestValidationError": "Fix the fields listed in the detail and send the request again.",
    "PolarRequestValidationError": "Fix the fields listed in the detail and send the request again.",
    # Refunds: each refusal below means nothing was refunded.
    "RefundsBlocked": (
        "Polar blocks refunds for this order or for the whole organization (usually while its account is "
        "under review); nothing was refunded. Retrying will not help: ask Polar support to lift the block."
    ),
    "RefundedAlready": (
        "The order is already fully refunded, so nothing more can be refunded; nothing was done. List the "
        "order's refunds to see what was paid back and when."
    ),
    "RefundDisputedPayment": (
        "The customer's bank disputes this payment (a chargeback), and a disputed payment cannot be "
        "refunded; nothing was refunded. Handle the dispute instead: accept it to concede, or let it be decided."
    ),
    "RevokeSubscriptionBenefitsProhibited": (
        "revoke_benefits is only for one-time purchases; nothing was refunded. Refund this subscription order "
        "without it, and cancel or revoke the subscription itself to end its benefits."
    ),
    "RefundUnknownPayment": (
        "The order has no succeeded payment (a draft, pending, void or free order), so there is no money to "
        "refund; nothing was done."
    ),
    "RefundPendingCreation": (
        "Polar is still recording a refund of this order: do not refund again. Wait a minute, then list the "
        "order's refunds to see it."
    ),
    # Subscriptions.
    "AlreadyCanceledSubscription": (
        "The subscription is already canceled, or scheduled to cancel when its period ends; nothing changed. "
        "Read it to see when it ends."
    ),
    "InactiveSubscription": "The subscription is not active, so this change does not apply; nothing changed.",
    "SubscriptionLocked": "The subscription has an update pending; try again once it is applied.",
    # Disputes.
    "DisputeNotOpenError": (
        "Only a dispute awaiting a response (needs_response) can be accepted; this one is under review or "
        "closed, and nothing was done. Read it for its status."
    ),
}

REFUND_TOO_HIGH = "Refund amount exceeds refundable amount"
REFUND_TOO_HIGH_HINT = (
    "The amount is more than what is left to refund on this order; nothing was refunded. The amount is net "
    "of tax (Polar adds the prorated tax itself): re-read the order and refund at most its refundable_amount."
)
NOT_SCHEDULED_HINT = (
    "The subscription has no cancellation scheduled at the period's end, so there is nothing to take "
    "back; nothing changed. Read it to see its state."
)
# Polar's uncancel answers with its generic errors: say what they mean there. With nothing scheduled, Polar's
# server code raises a bare 400 `BadRequest`; polar-sdk 1.0.2 declares a 409 `SubscriptionNotScheduledToCancel`.
SUBSCRIPTION_HINTS: dict[str, str] = {
    "ResourceUnavailable": (
        "The subscription has already ended, so its cancellation cannot be taken back; nothing changed. "
        "The customer must subscribe again."
    ),
    "BadRequest": NOT_SCHEDULED_HINT,
    "SubscriptionNotScheduledToCancel": NOT_SCHEDULED_HINT,
}


def _auth_hint(code: str | None, environment: str, base_url: str, path: str) -> str:
    if "/customer-portal/" in path:
        return (
            "The customer session was not accepted. Customer sessions (polar_cst_…) last one hour "
            "and belong to one environment; create a new one."
        )
    if code != "invalid_token":
        return (
            f"No access token was sent. Set an organization access token (polar_oat_…) created in Polar {environment}."
        )
    where = f"Polar {environment} ({base_url})" if environment != "custom" else f"The server at {base_url}"
    other = {
        "production": "a sandbox token used against production? Point the client at sandbox",
        "sandbox": "a production token used against sandbox? Point the client at production",
    }
    guess = other.get(environment, "a token from another environment? Check the server URL")
    return (
        f"{where} does not accept this access token. Is it {guess}, or create a token in "
        "the right environment. It may also have been revoked or have expired."
    )


def _status_hint(status: int, retry_after: float | None, api_version: str) -> str:
    if status == 404:
        return (
            "Polar found nothing at this address. Check the id, the server URL and that "
            f"Polar-Version {api_version or '(none)'} is a version Polar knows."
        )
    if status == 429:
        when = f"after {retry_after:g} seconds" if retry_after is not None else "in a minute"
        return f"Polar's rate limit was hit; nothing was done. Retry {when}."
    if status >= 500:
        return (
            "The failure is on Polar's side, not in the request. Try again later; for a change "
            "or a charge, re-read the object first to learn whether it happened."
        )
    return {
        400: "Polar rejected the request; check the arguments.",
        402: "The payment did not go through; nothing was charged.",
        403: "This token or organization is not allowed to do this.",
        409: "The object is not in a state that allows this; re-read it and check its status.",
        410: "The object is gone (expired); create a new one.",
        412: "The object changed state; re-read it before doing anything else.",
        422: "Polar could not accept the values sent; fix them and send the request again.",
    }.get(status, "Polar refused the request; read the detail and check the arguments.")


def hint_for(
    status: int,
    code: str | None,
    *,
    environment: str,
    base_url: str,
    path: str = "",
    retry_after: float | None = None,
    scope: str | None = None,
    api_version: str = "",
    detail: Any = None,
) -> str:
    """What the caller should do next after an error response."""
    if status == 401:
        return _auth_hint(code, environment, base_url, path)
    if status == 422 and _says(detail, REFUND_TOO_HIGH):
        return REFUND_TOO_HIGH_HINT
    if "/subscriptions/" in path and code in SUBSCRIPTION_HINTS:
        return SUBSCRIPTION_HINTS[code]
    if status == 403 and code == "insufficient_scope":
        needed = f"the scope {scope}" if scope else "a scope it lacks"
        return f"The access token needs {needed}; create a token that has it."
    if code in CODE_HINTS:
        return CODE_HINTS[code]
    return _status_hint(status, retry_after, api_version)


def _says(detail: Any, message: str) -> bool:
    """Whether a 422's field errors include `message`."""
    return isinstance(detail, list) and any(isinstance(item, dict) and item.get("msg") == message for item in detail)
