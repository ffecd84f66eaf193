"""The emulator's ASGI app (`create_app`) and a uvicorn runner for it (`serve`)."""

from __future__ import annotations

import json
import socket

from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import (
    checkout_routes,
    control,
    dispute_routes,
    organization_routes,
    portal_routes,
    refund_routes,
    routes,
    subscription_routes,
)
from .errors import NotNullViolation, PolarError, VersionNotFound
from .faults import FaultInjector, FaultPlan
from .state import API_VERSION, API_VERSIONS, DEFAULT_API_VERSION, EmulatorState


class EmulatorApp(Starlette):
    """Starlette with the fault injector in front of everything, Starlette's own 500 handler included:
    to drop a connection it must hold the server's `send`, and no layer may answer for it."""

    def build_middleware_stack(self) -> ASGIApp:
        return FaultInjector(super().build_middleware_stack(), _fault_plan)


def _fault_plan(scope: Scope) -> FaultPlan:
    plan: FaultPlan = scope["app"].state.emulator.faults
    return plan


class PolarVersionMiddleware:
    """Polar's APIVersionMiddleware on `/v1/`: no `Polar-Version` selects the default (2026-04), an
    unknown or malformed one reaches no router (a bare 404), and every other answer carries the
    version it was served in as a `Polar-Version` header. The two versions Polar serves have the
    same shapes for everything the emulator serves, so only the header differs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        raw = dict(scope["headers"]).get(b"polar-version")
        version = raw.decode("latin-1") if raw else DEFAULT_API_VERSION
        if version not in API_VERSIONS:
            error = VersionNotFound()
            await JSONResponse(error.body(), error.status)(scope, receive, send)
            return

        async def send_with_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["Polar-Version"] = version
            await send(message)

        await self.app(scope, receive, send_with_version)


async def polar_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PolarError)
    return JSONResponse(exc.body(), exc.status, headers=exc.headers())


async def server_error(request: Request, exc: Exception) -> Response:
    # What Polar's stack answers for an unhandled database error: Starlette's bare 500.
    return PlainTextResponse("Internal Server Error", 500)


async def http_error(request: Request, exc: Exception) -> Response:
    # FastAPI's shape for unknown paths and methods: {"detail": "Not Found"}.
    assert isinstance(exc, HTTPException)
    return JSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)


def create_app(*, orders: int = 60, seed: int = 0) -> Starlette:
    """A fresh emulator seeded with `orders` orders; `app.state.emulator` is its EmulatorState.

    Middleware is listed here, outermost first; the fault injector (`faults.py`, plan in
    `state.faults`, set through `/_emulator/faults`) sits in front of all of it, see `EmulatorApp`.
    """
    app = EmulatorApp(
        routes=[
            *control.ROUTES,
            *routes.ROUTES,
            *checkout_routes.ROUTES,
            *portal_routes.ROUTES,
            *refund_routes.ROUTES,
            *subscription_routes.ROUTES,
            *dispute_routes.ROUTES,
            *organization_routes.ROUTES,
        ],
        middleware=[Middleware(PolarVersionMiddleware)],
        exception_handlers={PolarError: polar_error, NotNullViolation: server_error, HTTPException: http_error},
    )
    app.state.emulator = EmulatorState(orders=orders, seed=seed)
    return app


def serve(host: str = "127.0.0.1", port: int = 8080, orders: int = 60, sock: socket.socket | None = None) -> None:
    """Run the emulator under uvicorn, after printing its base URL and tokens to stdout.

    `sock`: a socket already bound to host:port (so a port in use is known before the banner).
    """
    import uvicorn

    app = create_app(orders=orders)
    info = app.state.emulator.seed_info
    if sock is not None:
        port = sock.getsockname()[1]
    print(
        f"Polar emulator on http://{host}:{port} (API versions {API_VERSION} and {DEFAULT_API_VERSION}, the "
        f"default; {info.orders} orders)"
    )
    print(f"  organization token (all scopes): {info.org_token}")
    print(f"  organization token (read only):  {info.read_only_token}")
    print(f"  seeded ids: GET http://{host}:{port}/_emulator/state")
    print(json.dumps({"customers": info.customers, "draft_orders": info.draft_orders}, indent=2), flush=True)
    if sock is None:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    else:
        uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning")).run(sockets=[sock])
