"""The organization a token belongs to: what Polar lets it do (its capabilities and feature settings)."""

from __future__ import annotations

from polar_orders_mcp.polar.models import Organization
from polar_orders_mcp.polar.recent import Recent
from polar_orders_mcp.polar.requester import Requester
from polar_orders_mcp.polar.segments import segment

PATH = "/v1/organizations/"


class Organizations:
    """`/v1/organizations/{id}`: needs `organizations:read`.

    An organization read in the last few minutes is remembered for `recent`: what Polar lets an organization
    do changes rarely, and a preview that finds something refused reads it again before saying so."""

    def __init__(self, api: Requester) -> None:
        self._api = api
        self._seen: Recent[Organization] = Recent()

    async def get(self, organization_id: str) -> Organization:
        organization = await self._api.model(Organization, "GET", f"{PATH}{segment(organization_id)}")
        self._seen.put(organization_id, organization)
        return organization

    def remembered(self, organization_id: str) -> Organization | None:
        """The organization as read in the last few minutes, if it was."""
        return self._seen.get(organization_id)
