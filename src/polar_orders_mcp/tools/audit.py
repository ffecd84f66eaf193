"""The audit: one record per write or irreversible call, chained by hashes in the store, and a JSON line.

Each record carries the hash of the one before, so an edited, deleted or reordered record breaks the
chain (`polar-orders-mcp audit verify`), and the signing key's signature of its hash (`sig`), so a chain
rewritten with every hash recomputed does not pass either. Each names the process that wrote it (`writer`):
replicas sharing one store each write their own file, which holds their records and no others. Lines are
ASCII (no U+2028 can split one) and never hold a secret: credential arguments are redacted, and no reason
repeats a raw argument value.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import IO, Any

import mcp_types as types
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import ValidationError

from polar_orders_mcp.approvals.flow import Mismatch, NotDone, OutcomeUnknown
from polar_orders_mcp.approvals.policy import ConfirmationRefused
from polar_orders_mcp.polar.errors import PolarAPIError, PolarError
from polar_orders_mcp.store.base import Store
from polar_orders_mcp.store.records import AuditRecord

log = logging.getLogger(__name__)


class AuditTrail:
    """Appends each record to the store's hash chain, then as a JSON line to a file (or stderr)."""

    def __init__(self, store: Callable[[], Awaitable[Store]], path: str | None = None) -> None:
        self._store = store
        self._path = path
        self._lock = threading.Lock()
        self.writer = f"{os.getpid()}-{secrets.token_hex(4)}"
        """This process's records among those of every process sharing the store (one file each)."""
        try:
            self._file: IO[str] | None = open(path, "a", encoding="ascii") if path else None  # noqa: SIM115
        except OSError as exc:
            raise ValueError(f"Cannot open the audit log {path!r} for appending: {exc.strerror}.") from exc

    async def write(self, entry: dict[str, Any], chained: AuditRecord | None = None) -> None:
        """Chain the entry in the store (unless `chained`, its record chained already), then write its line."""
        try:
            record = chained or await (await self._store()).append_audit(entry)
            line = {"seq": record.seq, "prev": record.prev_hash, "hash": record.hash, **record.entry}
            if record.signature is not None:
                line["sig"] = record.signature
        except Exception as exc:  # the store is down: the line is still written, unchained, and said so
            log.error("audit record not chained: the store failed (%s)", type(exc).__name__)
            line = {"seq": None, "chain": "store unavailable", **entry}
        text = json.dumps(line, ensure_ascii=True, separators=(",", ":"), default=str)
        with self._lock:
            stream = self._file or sys.stderr
            stream.write(text + "\n")
            stream.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _polar_cause(exc: BaseException) -> PolarError | None:
    seen: BaseException | None = exc
    for _ in range(6):
        if seen is None:
            return None
        if isinstance(seen, PolarError):
            return seen
        seen = seen.__cause__
    return None


def _invalid_arguments(exc: BaseException) -> str | None:
    """Which arguments were invalid, without their values (pydantic's text repeats them)."""
    cause = exc.__cause__
    if isinstance(cause, ValidationError):
        fields = sorted({".".join(str(p) for p in error["loc"]) or "(arguments)" for error in cause.errors()})
        return "invalid arguments: " + ", ".join(fields)[:300]
    return None


def _reason(exc: BaseException) -> str:
    text = str(exc)
    if text.startswith("Error executing tool ") and ": " in text:
        text = text.split(": ", 1)[1]
    return text[:400]


def outcome_of(exc: BaseException) -> dict[str, Any]:
    """The outcome fields of a call that raised."""
    polar = _polar_cause(exc)
    if isinstance(polar, PolarAPIError):
        return {"outcome": "polar_error", "status": polar.status_code, "error_code": polar.code}
    if polar is not None:
        return {"outcome": "polar_unreachable", "error": type(polar).__name__}
    invalid = _invalid_arguments(exc)
    if invalid is not None:
        return {"outcome": "refused", "reason": invalid}
    kinds: tuple[tuple[type[BaseException], str], ...] = (
        (Mismatch, "mismatch"),
        (OutcomeUnknown, "unknown"),
        (NotDone, "not_done"),
        (ConfirmationRefused, "refused"),
    )
    cause: BaseException | None = exc
    while cause is not None:
        for kind, name in kinds:
            if isinstance(cause, kind):
                return {"outcome": name, "reason": _reason(cause)}
        cause = cause.__cause__
    if isinstance(exc, ToolError):
        return {"outcome": "refused", "reason": _reason(exc)}
    return {"outcome": "error", "error": type(exc).__name__}


def result_outcome(result: Any) -> dict[str, Any]:
    """The outcome fields of a call that returned."""
    if isinstance(result, types.InputRequiredResult):
        return {"outcome": "approval_requested"}
    structured = getattr(result, "structured_content", None)
    status = structured.get("status") if isinstance(structured, dict) else None
    if getattr(result, "is_error", False):
        return {"outcome": "refused"}
    if status in ("approval_pending", "confirmation_required"):
        return {"outcome": status}
    return {"outcome": "ok", **({"result_status": status} if isinstance(status, str) else {})}
