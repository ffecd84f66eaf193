"""The audit log: one JSON line per write or irreversible call, never a secret."""

from __future__ import annotations

import functools
import json
import sys
import threading
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any

from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool as SdkTool
from pydantic import BaseModel, PrivateAttr

from polar_orders_mcp.polar.errors import PolarAPIError, PolarError
from polar_orders_mcp.tools.base import Tool

# Arguments that are credentials: never written, whatever the tool.
SECRET_ARGUMENTS = frozenset({"confirmation_token", "client_secret", "payment_token"})
TARGETS = ("order_id", "checkout_id", "customer_id", "subscription_id", "dispute_id", "refund_id")

# Set when a call reaches the tool body, whose wrapper writes the detailed line itself.
_body_reached: ContextVar[bool] = ContextVar("audit_body_reached", default=False)


class AuditLog:
    """Appends JSON lines to a file (flushed per line) or to stderr."""

    def __init__(self, path: str | None = None) -> None:
        self._path = path
        self._lock = threading.Lock()
        try:
            self._file: IO[str] | None = open(path, "a", encoding="utf-8") if path else None  # noqa: SIM115
        except OSError as exc:
            raise ValueError(f"Cannot open the audit log {path!r} for appending: {exc.strerror}.") from exc

    def write(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, ensure_ascii=False, separators=(",", ":"), default=str)
        with self._lock:
            stream = self._file or sys.stderr
            stream.write(line + "\n")
            stream.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _target(tool: Tool, kwargs: dict[str, Any]) -> str | None:
    for name in TARGETS:
        if isinstance(kwargs.get(name), str):
            return str(kwargs[name])
    preview = kwargs.get("preview")
    return getattr(preview, "checkout_id", None) or getattr(preview, "order_id", None)


def _arguments(kwargs: dict[str, Any]) -> dict[str, Any]:
    shown: dict[str, Any] = {}
    for name, value in kwargs.items():
        if name in SECRET_ARGUMENTS:
            if value is not None:
                shown[name] = "<given>"
        elif isinstance(value, BaseModel):
            continue  # resolved values (preview, approval) are reported as facts instead
        elif isinstance(value, str):
            shown[name] = value if len(value) <= 200 else value[:200] + "…"  # hostile input stays bounded
        elif isinstance(value, int | float | bool | list | dict):
            shown[name] = value if len(json.dumps(value, default=str)) <= 2000 else "<too long to record>"
    return shown


def audited(tool: Tool, log: AuditLog, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """Wrap a write or irreversible tool so every call leaves one audit line, whatever its outcome."""

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        _body_reached.set(True)
        entry: dict[str, Any] = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "tool": tool.name,
            "tier": tool.tier,
            "target": _target(tool, kwargs),
            "arguments": _arguments(kwargs),
        }
        preview = kwargs.get("preview")
        if isinstance(preview, BaseModel):
            entry["previewed"] = preview.model_dump(mode="json")
        try:
            result = await fn(*args, **kwargs)
        except PolarAPIError as exc:
            entry.update(outcome="polar_error", status=exc.status_code, error_code=exc.code)
            log.write(entry)
            raise
        except PolarError as exc:
            entry.update(outcome="polar_unreachable", error=type(exc).__name__)
            log.write(entry)
            raise
        except ToolError as exc:
            entry.update(outcome="refused", reason=str(exc)[:300])
            log.write(entry)
            raise
        status = getattr(result, "status", None)
        entry["outcome"] = "confirmation_required" if status == "confirmation_required" else "ok"
        if isinstance(status, str) and status != "confirmation_required":
            entry["result_status"] = status
        log.write(entry)
        return result

    return wrapper


class AuditedSdkTool(SdkTool):
    """The SDK's tool, also auditing calls refused before the body ran (bad arguments, a refused preview)."""

    _entry: Tool | None = PrivateAttr(default=None)
    _log: AuditLog | None = PrivateAttr(default=None)

    def audit_with(self, tool: Tool, log: AuditLog) -> AuditedSdkTool:
        self._entry, self._log = tool, log
        return self

    async def run(self, arguments: dict[str, Any], context: Any, convert_result: bool = False) -> Any:
        reached = _body_reached.set(False)
        try:
            return await super().run(arguments, context, convert_result)
        except ToolError as exc:
            if not _body_reached.get() and self._entry is not None and self._log is not None:
                self._log.write({
                    "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                    "tool": self._entry.name,
                    "tier": self._entry.tier,
                    "target": _target(self._entry, arguments),
                    "arguments": _arguments(arguments),
                    "outcome": "refused",
                    "stage": "before acting",
                    "reason": str(exc).removeprefix(f"Error executing tool {self._entry.name}: ")[:300],
                })  # fmt: skip
            raise
        finally:
            _body_reached.reset(reached)
