"""Thin route for the organization: `GET /v1/organizations/{id}`, the one a token belongs to."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from . import render
from .errors import ResourceNotFound
from .params import path_id
from .routes import bearer, emulator


async def get_organization(request: Request) -> Response:
    state = emulator(request)
    principal = state.require_org(bearer(request), "organizations:read", "organizations:write")
    organization_id = path_id(request.path_params["id"])
    # Polar answers 404 for an organization the token is not a member of, as for one that does not exist.
    if organization_id != principal.organization_id:
        raise ResourceNotFound()
    return JSONResponse(render.organization(state.store.organization))


ROUTES: list[BaseRoute] = [
    Route("/v1/organizations/{id}", get_organization, methods=["GET"]),
]
