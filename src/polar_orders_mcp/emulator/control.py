"""The control plane under /_emulator/ (no auth): reset, reseed, inspect, tweak, inject faults, serve the files."""

from __future__ import annotations

import re
from dataclasses import asdict
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from .bodies import Body
from .faults import FaultKind, compile_path
from .params import parse_body
from .routes import emulator
from .state import EmulatorState

MAX_SEED_ORDERS = 1_000_000


class SeedRequest(Body):
    orders: Annotated[int, Field(ge=0, le=MAX_SEED_ORDERS)] | None = None
    seed: int | None = None


class OrganizationPatch(Body):
    off_session_charges_enabled: bool | None = None
    payments_ready: bool | None = None
    can_refund: bool | None = None


class SettingsPatch(Body):
    receipt_render_polls: Annotated[int, Field(ge=0)] | None = None
    invoice_render_polls: Annotated[int, Field(ge=0)] | None = None
    charge_seconds: Annotated[float, Field(ge=0, le=60)] | None = None
    refund_status: Literal["succeeded", "pending"] | None = None


class FaultRequest(Body):
    """`POST /_emulator/faults`: apply `kind` to the next `count` requests matching `method` and `path`,
    after letting `skip` of them through."""

    kind: FaultKind
    path: Annotated[str, Field(min_length=1, max_length=500)]
    method: Annotated[str, Field(pattern=r"^[A-Za-z]{1,10}$")] | None = None
    count: Annotated[int, Field(ge=1, le=1_000_000)] = 1
    status: Annotated[int, Field(ge=400, le=599)] = 503
    retry_after: Annotated[float, Field(ge=0, le=3600)] = 1.0
    seconds: Annotated[float, Field(ge=0, le=60)] = 0.2
    skip: Annotated[int, Field(ge=0, le=1_000_000)] = 0

    @field_validator("path")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            compile_path(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        return value


def state_json(state: EmulatorState) -> dict[str, Any]:
    """The SeedInfo's fields, plus the live settings, organization flags and table sizes."""
    org, store = state.store.organization, state.store
    return {
        **asdict(state.seed_info),
        "settings": asdict(state.settings),
        "organization": {
            "off_session_charges_enabled": org.off_session_charges_enabled,
            "payments_ready": org.payments_ready,
            "can_refund": org.can_refund,
        },
        "counts": {
            "orders": len(store.orders),
            "customers": len(store.customers),
            "products": len(store.products),
            "checkouts": len(store.checkouts),
            "customer_sessions": len(store.sessions),
            "refunds": len(store.refunds),
            "subscriptions": len(store.subscriptions),
            "disputes": len(store.disputes),
        },
    }


async def reset(request: Request) -> Response:
    state = emulator(request)
    state.reset()
    return JSONResponse(state_json(state))


async def seed(request: Request) -> Response:
    state = emulator(request)
    body = await parse_body(request, SeedRequest, optional=True)
    state.reset(orders=body.orders, seed=body.seed)
    return JSONResponse(state_json(state))


async def get_state(request: Request) -> Response:
    return JSONResponse(state_json(emulator(request)))


async def patch_organization(request: Request) -> Response:
    state = emulator(request)
    body = await parse_body(request, OrganizationPatch)
    state.set_organization(
        off_session_charges_enabled=body.off_session_charges_enabled,
        payments_ready=body.payments_ready,
        can_refund=body.can_refund,
    )
    return JSONResponse(state_json(state)["organization"])


async def patch_settings(request: Request) -> Response:
    state = emulator(request)
    body = await parse_body(request, SettingsPatch)
    for name, value in body.model_dump(exclude_none=True).items():
        setattr(state.settings, name, value)
    return JSONResponse(asdict(state.settings))


async def add_fault(request: Request) -> Response:
    body = await parse_body(request, FaultRequest)
    fault = emulator(request).faults.add(**body.model_dump())
    return JSONResponse(fault.as_json(), 201)


async def list_faults(request: Request) -> Response:
    return JSONResponse({"faults": [f.as_json() for f in emulator(request).faults.faults]})


async def clear_faults(request: Request) -> Response:
    emulator(request).faults.clear()
    return JSONResponse({"faults": []})


async def list_requests(request: Request) -> Response:
    """What reached the API, oldest first: `?method=POST&path=/v1/orders/{id}/finalize` narrows it."""
    query = request.query_params
    received = emulator(request).faults.received(query.get("method"), query.get("path"))
    return JSONResponse({"count": len(received), "requests": [r.as_json() for r in received]})


async def clear_requests(request: Request) -> Response:
    emulator(request).faults.journal.clear()
    return JSONResponse({"count": 0, "requests": []})


async def get_file(request: Request) -> Response:
    kind, name = request.path_params["kind"], request.path_params["name"]
    text = emulator(request).orders.document_text(kind, name.removesuffix(".pdf")) if name.endswith(".pdf") else None
    if text is None:
        return JSONResponse({"detail": "Not Found"}, 404)
    return Response(pdf(text), media_type="application/pdf")


async def checkout_page(request: Request) -> Response:
    secret = request.path_params["client_secret"]
    checkout = emulator(request).store.checkouts_by_secret.get(secret)
    if checkout is None:
        return JSONResponse({"detail": "Not Found"}, 404)
    return PlainTextResponse(
        f"Emulated checkout {checkout.id}: {checkout.status}. Confirm it through "
        f"POST /v1/checkouts/client/{{client_secret}}/confirm.\n"
    )


async def portal_page(request: Request) -> Response:
    return PlainTextResponse("Emulated customer portal: use the /v1/customer-portal/ API with the session token.\n")


def pdf(text: str) -> bytes:
    """A minimal one-page PDF showing `text`."""
    safe = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    stream = f"BT /F1 14 Tf 72 720 Td ({safe}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


ROUTES: list[BaseRoute] = [
    Route("/_emulator/reset", reset, methods=["POST"]),
    Route("/_emulator/seed", seed, methods=["POST"]),
    Route("/_emulator/state", get_state, methods=["GET"]),
    Route("/_emulator/organization", patch_organization, methods=["PATCH"]),
    Route("/_emulator/settings", patch_settings, methods=["PATCH"]),
    Route("/_emulator/faults", add_fault, methods=["POST"]),
    Route("/_emulator/faults", list_faults, methods=["GET"]),
    Route("/_emulator/faults", clear_faults, methods=["DELETE"]),
    Route("/_emulator/requests", list_requests, methods=["GET"]),
    Route("/_emulator/requests", clear_requests, methods=["DELETE"]),
    Route("/_emulator/files/{kind}/{name}", get_file, methods=["GET"]),
    Route("/_emulator/checkouts/{client_secret}", checkout_page, methods=["GET"]),
    Route("/_emulator/checkouts/{client_secret}/confirmation", checkout_page, methods=["GET"]),
    Route("/_emulator/portal/{slug}", portal_page, methods=["GET"]),
]
