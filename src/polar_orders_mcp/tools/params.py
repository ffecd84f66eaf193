"""Parameter types shared by the tools: ids validated before they reach a URL path."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, WithJsonSchema

from polar_orders_mcp.polar.ids import UUID_PATTERN
from polar_orders_mcp.polar.models import Address, OrderStatusName

_UUID = UUID_PATTERN

OrderId = Annotated[str, Field(pattern=_UUID)]
CustomerId = Annotated[str, Field(pattern=_UUID)]
ProductId = Annotated[str, Field(pattern=_UUID)]
CheckoutId = Annotated[str, Field(pattern=_UUID)]
RefundId = Annotated[str, Field(pattern=_UUID)]
SubscriptionId = Annotated[str, Field(pattern=_UUID)]
DisputeId = Annotated[str, Field(pattern=_UUID)]
PaymentMethodId = Annotated[str, Field(pattern=_UUID, description="a saved card (get_customer)")]
OrderStatus = OrderStatusName


def sort_keys(*keys: str) -> WithJsonSchema:
    """The advertised schema of a `sorting` argument: its keys in one line instead of an enum that lists
    each twice (ascending and descending). The server still checks each against the full list."""
    return WithJsonSchema(
        {"type": "array", "items": {"type": "string"}, "description": f"{', '.join(keys)}; -key: descending"}
    )


Since = Annotated[AwareDatetime | None, Field(description="exclusive")]
Until = Annotated[AwareDatetime | None, Field(description="exclusive")]
Page = Annotated[int, Field(ge=1)]
Limit = Annotated[int, Field(ge=1, le=100)]
Detail = Annotated[
    Literal["summary", "full"],
    # What "full" adds is said once, in the server's instructions.
    WithJsonSchema({"enum": ["summary", "full"]}),
]
Metadata = Annotated[
    dict[str, str],
    Field(max_length=50),
    # Advertised as an object: that its values are strings is the server's check (and its error's example).
    WithJsonSchema({"type": "object"}),
]


class AddressInput(BaseModel):
    """A billing address."""

    model_config = ConfigDict(defer_build=True)

    line1: Annotated[str | None, Field(max_length=256)] = None
    line2: Annotated[str | None, Field(max_length=256)] = None
    postal_code: Annotated[str | None, Field(max_length=32)] = None
    city: Annotated[str | None, Field(max_length=128)] = None
    state: Annotated[str | None, Field(max_length=64, description="e.g. US-CA")] = None
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="e.g. US")]


class OrderAddressInput(BaseModel):
    """An order's new billing address. Its country and state cannot change: left out, they stay."""

    model_config = ConfigDict(defer_build=True)

    line1: Annotated[str | None, Field(max_length=256)] = None
    line2: Annotated[str | None, Field(max_length=256)] = None
    postal_code: Annotated[str | None, Field(max_length=32)] = None
    city: Annotated[str | None, Field(max_length=128)] = None
    state: Annotated[str | None, Field(max_length=64, description="e.g. US-CA")] = None
    country: Annotated[str | None, Field(pattern=r"^[A-Z]{2}$", description="e.g. US")] = None


BillingName = Annotated[str | None, Field(max_length=256)]
BillingAddress = Annotated[
    OrderAddressInput | None,
    Field(description="replaces the address; country and state stay. Left out: the address stays as it is"),
]


def billing_changes(
    billing_name: str | None, billing_address: OrderAddressInput | None, current: Address | None = None
) -> dict[str, Any]:
    """The billing fields to send, or a ToolError when there is nothing to change. An address without country
    or state takes the order's own (`current`), which Polar does not let change."""
    if billing_name is None and billing_address is None:
        raise ToolError("Nothing to update: pass billing_name, billing_address, or both.")
    address = billing_address.model_dump(exclude_none=True) if billing_address else None
    if address is not None and current is not None:
        address.setdefault("country", current.country)
        if current.state is not None:
            address.setdefault("state", current.state)
    if address is not None and "country" not in address:
        raise ToolError(
            "Nothing was updated: the order has no billing address yet, so billing_address needs its country "
            "(e.g. US); it cannot change later."
        )
    return {"billing_name": billing_name, "billing_address": address}


def address_needs_order(billing_address: OrderAddressInput | None) -> bool:
    """Whether the order's own address must be read: to keep the country or state the new one leaves out."""
    return billing_address is not None and (billing_address.country is None or billing_address.state is None)
