"""What Polar lets the organization do (refund, charge off-session), read before anyone is asked to approve."""

from __future__ import annotations

import logging
from collections.abc import Callable

from polar_orders_mcp.polar import models
from polar_orders_mcp.polar.client import PolarClient
from polar_orders_mcp.polar.errors import PermissionDeniedError, PolarError

log = logging.getLogger(__name__)

Refusal = Callable[[models.Organization], str | None]
"""Why Polar would refuse the call, from what it lets the organization do; None when it would not."""


async def refused_by_organization(api: PolarClient, organization_id: str | None, refusal: Refusal) -> str | None:
    """Why Polar would refuse, or None: when it would not, or when it cannot be known here (no organization id
    on the order, a token without organizations:read, a failed read; Polar then answers for itself: this read
    only spares a person an approval Polar would refuse, it guards nothing).

    The organization as read in the last few minutes serves when it allows the call; a refusal is said only on
    a fresh read, so an organization Polar has just turned back on is not refused from memory."""
    if organization_id is None:
        return None
    seen = api.organizations.remembered(organization_id)
    if seen is not None and refusal(seen) is None:
        return None
    try:
        organization = await api.organizations.get(organization_id)
    except PermissionDeniedError:
        return None  # a token without organizations:read
    except PolarError as exc:
        log.warning("could not read organization %s before asking: %s", organization_id, exc)
        return None
    return refusal(organization)


def refunds_refused(organization: models.Organization) -> str | None:
    """Polar's RefundsBlocked for a whole organization (`not organization.can_refund`)."""
    capabilities = organization.capabilities
    if capabilities is not None and capabilities.refunds is False:
        return (
            "Polar has turned refunds off for this organization (its refunds capability), so it would refuse this "
            "refund (RefundsBlocked). Nobody was asked to approve it. The organization's owner can ask Polar "
            "support to turn refunds back on."
        )
    return None


def charges_refused(organization: models.Organization) -> str | None:
    """What Polar's finalize checks of the organization before anything else, in its order."""
    features = organization.feature_settings or {}
    if features.get("off_session_charges_enabled") is False:
        return (
            "off-session charges are not enabled for this organization, so Polar would refuse to charge a draft "
            "order (OffSessionChargesNotEnabled). Nobody was asked to approve it. Polar support enables them on "
            "request; until then, send the customer a checkout link (create_checkout)."
        )
    capabilities = organization.capabilities
    if capabilities is not None and capabilities.checkout_payments is False:
        return (
            "this organization cannot accept payments at the moment (its checkout_payments capability is off: its "
            "account may be pending onboarding or under review), so Polar would refuse the charge "
            "(OrganizationNotReadyForPayments). Nobody was asked to approve it. The organization's owner can "
            "finish onboarding or ask Polar support."
        )
    return None
