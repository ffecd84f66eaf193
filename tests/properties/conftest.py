"""Helpers for the property tests: emulator-backed servers, result text, crash detection, a loopback server."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx2
import mcp_types as types
import uvicorn

from polar_orders_mcp.emulator.app import create_app
from polar_orders_mcp.server.app import ServerParts, build_parts
from polar_orders_mcp.settings import Settings

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
# What the SDK says for an exception the tool did not anticipate: the name and nothing else.
_CRASH = re.compile(r"Error executing tool [\w-]+(: Error executing tool [\w-]+)*")


def quiet_emulator(orders: int = 20) -> Any:
    """A fresh emulator whose receipts are ready at once, so no call sleeps while a PDF "renders"."""
    app = create_app(orders=orders)
    app.state.emulator.settings.receipt_render_polls = 0
    return app


def emulator_parts(app: Any, **settings: Any) -> ServerParts:
    """Our server in emulator mode, talking to `app` (the emulator, or a wrapper of it) in process."""
    return build_parts(Settings(emulator=True, **settings), transport=httpx2.ASGITransport(app=app))


def result_text(result: types.CallToolResult) -> str:
    return " ".join(c.text for c in result.content if isinstance(c, types.TextContent))


def is_crash(result: types.CallToolResult) -> bool:
    """An is_error result carrying only the SDK's generic message: an unexpected exception in the tool."""
    return result.is_error and _CRASH.fullmatch(result_text(result).strip()) is not None


@contextmanager
def serve_on_loopback(app: Any) -> Iterator[str]:
    """Run an ASGI app under uvicorn on 127.0.0.1:<free port>, its logs going to the root logger (and so
    to caplog) rather than to uvicorn's own handlers; yield its base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, log_level="debug", lifespan="on")
    server = uvicorn.Server(config)
    loggers = [logging.getLogger(name) for name in ("uvicorn", "uvicorn.error", "uvicorn.access")]
    propagate = [logger.propagate for logger in loggers]
    for logger in loggers:
        logger.propagate = True
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        for logger, value in zip(loggers, propagate, strict=True):
            logger.propagate = value
