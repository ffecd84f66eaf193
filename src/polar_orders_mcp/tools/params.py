"""Parameter types shared by the tools: ids validated before they reach a URL path."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from polar_orders_mcp.polar.ids import UUID_PATTERN
from polar_orders_mcp.polar.models import OrderStatusName

_UUID = UUID_PATTERN

OrderId = Annotated[str, Field(pattern=_UUID, description="Polar order id (a UUID).")]
CustomerId = Annotated[str, Field(pattern=_UUID, description="Polar customer id (a UUID).")]
ProductId = Annotated[str, Field(pattern=_UUID, description="Polar product id (a UUID).")]
CheckoutId = Annotated[str, Field(pattern=_UUID, description="Polar checkout session id (a UUID).")]
DiscountId = Annotated[str, Field(pattern=_UUID, description="Polar discount id (a UUID).")]
RefundId = Annotated[str, Field(pattern=_UUID, description="Polar refund id (a UUID).")]
SubscriptionId = Annotated[str, Field(pattern=_UUID, description="Polar subscription id (a UUID).")]
DisputeId = Annotated[str, Field(pattern=_UUID, description="Polar dispute id (a UUID).")]
PaymentMethodId = Annotated[
    str,
    Field(pattern=_UUID, description="Id of one of the customer's saved payment methods (a UUID)."),
]
OrderStatus = OrderStatusName
Detail = Annotated[
    Literal["summary", "full"],
    Field(description="summary: compact agent view (default). full: adds Polar's complete API object."),
]
Metadata = Annotated[
    dict[str, str],
    Field(description="Metadata key/value pairs, e.g. {\"crm_id\": \"42\"}.", max_length=50),
]


class AddressInput(BaseModel):
    """A billing address. Polar does not let country or state change once set."""

    line1: Annotated[str | None, Field(max_length=256)] = None
    line2: Annotated[str | None, Field(max_length=256)] = None
    postal_code: Annotated[str | None, Field(max_length=32)] = None
    city: Annotated[str | None, Field(max_length=128)] = None
    state: Annotated[str | None, Field(max_length=64, description="Region code, e.g. US-CA.")] = None
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2, e.g. US.")]


BillingName = Annotated[str | None, Field(max_length=256, description="Name on the invoice.")]
BillingAddress = Annotated[
    AddressInput | None, Field(description="Full billing address; country and state cannot change.")
]


def billing_changes(billing_name: str | None, billing_address: AddressInput | None) -> dict[str, Any]:
    """The billing fields to send, or a ToolError when there is nothing to change."""
    if billing_name is None and billing_address is None:
        raise ToolError("Nothing to update: pass billing_name, billing_address, or both.")
    return {
        "billing_name": billing_name,
        "billing_address": billing_address.model_dump(exclude_none=True) if billing_address else None,
    }
