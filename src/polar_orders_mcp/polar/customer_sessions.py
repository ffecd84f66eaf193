"""Customer sessions: mint a one-hour customer-portal token (polar_cst_…) for one customer."""

from __future__ import annotations

from polar_orders_mcp.polar.models import CustomerSession
from polar_orders_mcp.polar.params import build_body
from polar_orders_mcp.polar.requester import Requester

PATH = "/v1/customer-sessions/"


class CustomerSessions:
    """`/v1/customer-sessions/`: needs `customer_sessions:write`."""

    def __init__(self, api: Requester) -> None:
        self._api = api

    async def create(
        self,
        *,
        customer_id: str | None = None,
        external_customer_id: str | None = None,
        return_url: str | None = None,
    ) -> CustomerSession:
        """A new session for the customer given by id or by your external id. Never retried."""
        if (customer_id is None) == (external_customer_id is None):
            raise ValueError("give exactly one of customer_id and external_customer_id")
        body = build_body(
            {"customer_id": customer_id, "external_customer_id": external_customer_id, "return_url": return_url}
        )
        return await self._api.model(CustomerSession, "POST", PATH, json_body=body)
