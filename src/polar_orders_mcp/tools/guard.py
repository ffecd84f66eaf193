"""Confirmation of irreversible calls: elicitation when the client can be asked, else signed tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from mcp.server.mcpserver import (
    AcceptedElicitation,
    Context,
    Elicit,
    ElicitationResult,
)
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from polar_orders_mcp.settings import ConfirmMode


class Approval(BaseModel):
    """What the human is asked: the preview is in the message, this is the answer."""

    approve: bool = Field(title="Approve", description="Yes: do exactly what the preview above says.")


class NotAsked(BaseModel):
    """The confirmation resolver's answer when the human was not asked (token path)."""


# Bound by the token all the same; the human reads the display forms instead.
_NOT_FOR_HUMANS = frozenset(
    {"summary", "amount", "currency", "customer_id", "payment_method_id", "payment_token_digest"}
)


class Preview(BaseModel):
    """Facts the human approves. Subclasses add the facts; `summary` is the one-line action."""

    summary: str

    def facts(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def message(self) -> str:
        """What the human reads: the action, then the facts in words (raw amounts and inner ids left out)."""
        lines = [self.summary, ""]
        for key, value in self.facts().items():
            if key not in _NOT_FOR_HUMANS and value is not None:
                lines.append(f"{key.replace('_', ' ')}: {value}")
        lines += ["", "Approve only if this is exactly what you want. It cannot be undone."]
        return "\n".join(lines)


class ConfirmationRefused(ToolError):
    """A token or approval that does not allow the call: nothing was done."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def digest(facts: Mapping[str, Any]) -> str:
    canonical = json.dumps(facts, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class Issued:
    token: str
    expires_at: str


@dataclass
class ConfirmationTokens:
    """HMAC-signed, expiring, single-use tokens bound to a tool, a target and the previewed facts.

    The same secret lets several replicas accept each other's tokens; single use is enforced
    per process (a token redeemed on one replica is unknown to another).
    """

    secret: bytes
    ttl: float = 300.0
    clock: Callable[[], float] = time.time
    _used: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def issue(self, *, tool: str, target: str, facts: Mapping[str, Any]) -> Issued:
        expires = self.clock() + self.ttl
        payload = {"t": tool, "g": target, "f": digest(facts), "e": round(expires, 3), "n": secrets.token_hex(8)}
        body = _b64(json.dumps(payload, separators=(",", ":")).encode())
        token = f"pc1.{body}.{self._sign(body)}"
        return Issued(token=token, expires_at=datetime.fromtimestamp(expires, UTC).isoformat(timespec="seconds"))

    def redeem(self, token: str, *, tool: str, target: str, facts: Mapping[str, Any]) -> None:
        """Accept the token once, or raise ConfirmationRefused saying why."""
        payload = self._verify(token)
        if payload.get("t") != tool or payload.get("g") != target:
            raise ConfirmationRefused(
                f"This confirmation_token was issued for another call ({payload.get('t')} on "
                f"{payload.get('g')}), not {tool} on {target}."
            )
        if float(payload.get("e", 0)) < self.clock():
            raise ConfirmationRefused("The confirmation_token has expired.")
        if payload.get("f") != digest(facts):
            raise ConfirmationRefused(
                "The target changed after the preview was made, so the approval no longer matches it."
            )
        nonce = str(payload.get("n"))
        with self._lock:
            now = self.clock()
            for old in [n for n, exp in self._used.items() if exp < now]:
                del self._used[old]
            if nonce in self._used:
                raise ConfirmationRefused("This confirmation_token was already used.")
            self._used[nonce] = float(payload["e"])

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self.secret, body.encode(), hashlib.sha256).digest())

    def _verify(self, token: str) -> dict[str, Any]:
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != "pc1":
            raise ConfirmationRefused("The confirmation_token is malformed: pass it back exactly as given.")
        if not hmac.compare_digest(self._sign(parts[1]), parts[2]):
            raise ConfirmationRefused("The confirmation_token is not valid: it was altered or not issued here.")
        try:
            payload = json.loads(_unb64(parts[1]))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ConfirmationRefused("The confirmation_token is malformed.") from exc
        if not isinstance(payload, dict):
            raise ConfirmationRefused("The confirmation_token is malformed.")
        return payload


@dataclass
class Guard:
    """The server's confirmation policy: one per server, shared by every irreversible tool."""

    mode: ConfirmMode
    tokens: ConfirmationTokens
    max_charge: int | None = None

    def check_limit(self, amount: int | None, shown: str, not_done: str) -> None:
        """--max-charge: refuse before asking anyone, before anything is sent to Polar."""
        if self.max_charge is not None and amount is not None and amount > self.max_charge:
            raise ToolError(
                f"{not_done}: {shown} is above this server's limit for a single charge "
                f"({self.max_charge} in minor units, set by --max-charge). A person must do this in Polar's "
                "dashboard, or an operator must raise the limit."
            )

    def can_elicit(self, ctx: Context[Any, Any]) -> bool:
        if self.mode not in ("auto", "elicit"):
            return False
        capabilities = ctx.client_capabilities
        elicitation = capabilities.elicitation if capabilities is not None else None
        return elicitation is not None and (elicitation.form is not None or elicitation.url is None)

    def ask(self, ctx: Context[Any, Any], preview: Preview) -> Elicit[Approval] | NotAsked:
        """The resolver's half: ask the human when the client can be asked, else leave it to tokens."""
        if self.can_elicit(ctx):
            return Elicit(preview.message(), Approval)
        if self.mode == "elicit":
            raise ToolError(
                "This server requires a human to confirm irreversible calls in the client, and this "
                "client cannot show confirmation requests (no elicitation support). Nothing was done."
            )
        return NotAsked()


PreviewT = TypeVar("PreviewT", bound=Preview)


class AwaitingApproval(BaseModel):
    """Nothing was done: the preview waits for a human's approval, with the token that carries it."""

    token: str
    expires_at: str

    def next_step(self, tool: str, target_argument: str) -> str:
        return (
            f"Nothing was done. Show this preview to a human; if they approve, call {tool} again with the "
            f"same {target_argument} and this confirmation_token."
        )


async def confirm(
    guard: Guard,
    approval: ElicitationResult[Approval],
    *,
    tool: str,
    target: str,
    preview: PreviewT,
    confirmation_token: str | None,
    not_done: str,
    reread: Callable[[], Awaitable[PreviewT]],
) -> AwaitingApproval | PreviewT:
    """The whole confirmation of one irreversible call, the same for every such tool.

    Returns AwaitingApproval when the preview must go to a human first (the token path), or the
    preview read afresh right before acting, identical to what was approved. Raises
    ConfirmationRefused, saying what was not done (`not_done`, e.g. "Order 123 was not charged"),
    when the approval was refused, the token does not allow the call, or the target changed.
    """
    if guard.mode != "off":
        if not isinstance(approval, AcceptedElicitation):
            declined = approval.action == "decline"
            said = "the person declined the confirmation" if declined else "the confirmation was cancelled"
            raise ConfirmationRefused(f"{not_done}: {said}.")
        data = approval.data
        if isinstance(data, Approval):
            if not data.approve:
                raise ConfirmationRefused(f"{not_done}: the person declined the confirmation.")
        elif confirmation_token is None:
            issued = guard.tokens.issue(tool=tool, target=target, facts=preview.facts())
            return AwaitingApproval(token=issued.token, expires_at=issued.expires_at)
        else:
            try:
                guard.tokens.redeem(confirmation_token, tool=tool, target=target, facts=preview.facts())
            except ConfirmationRefused as exc:
                again = f"Call {tool} again without a token for a fresh preview."
                raise ConfirmationRefused(f"{not_done}: {exc} {again}") from exc
    # Re-read right before acting: the approval covers the previewed facts, nothing else.
    fresh = await reread()
    if changes := changed_facts(preview, fresh):
        raise ConfirmationRefused(
            f"{not_done}: it changed after the preview ({'; '.join(changes)}). "
            f"Call {tool} again for a fresh preview."
        )
    return fresh


def changed_facts(before: Preview, after: Preview) -> list[str]:
    """The previewed facts that differ now, as "field: old → new"."""
    old, new = before.facts(), after.facts()
    return [f"{k}: {old.get(k)} → {new.get(k)}" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
