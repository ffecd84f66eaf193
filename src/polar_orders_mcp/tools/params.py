"""Parameter types shared by the tools: ids validated before they reach a URL path."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

_UUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"

OrderId = Annotated[str, Field(pattern=_UUID, description="Polar order id (a UUID).")]
CustomerId = Annotated[str, Field(pattern=_UUID, description="Polar customer id (a UUID).")]
ProductId = Annotated[str, Field(pattern=_UUID, description="Polar product id (a UUID).")]
CheckoutId = Annotated[str, Field(pattern=_UUID, description="Polar checkout session id (a UUID).")]
DiscountId = Annotated[str, Field(pattern=_UUID, description="Polar discount id (a UUID).")]
PaymentMethodId = Annotated[
    str,
    Field(pattern=_UUID, description="Id of one of the customer's saved payment methods (a UUID)."),
]
ConfirmationToken = Annotated[
    str,
    Field(
        min_length=1,
        max_length=2048,
        description=(
            "The confirmation_token from this tool's preview, passed back unchanged once a human "
            "has approved that preview. Omit it on the first call."
        ),
    ),
]
Detail = Annotated[
    Literal["summary", "full"],
    Field(description="summary: compact agent view (default). full: adds Polar's complete API object."),
]
Metadata = Annotated[
    dict[str, str],
    Field(description="Metadata key/value pairs, e.g. {\"crm_id\": \"42\"}.", max_length=50),
]
