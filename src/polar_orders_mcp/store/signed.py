"""What the signing key signs in the store: each decision and each audit record, as claims rebuilt from a row.

A signature is made in the transaction that writes its row, and checked by rebuilding the claims from the
row as read later: a row changed since (by anyone without the key) no longer matches its signature.
"""

from __future__ import annotations

from typing import Any

from polar_orders_mcp.signing import PublicKey, SignatureRefused
from polar_orders_mcp.store.records import Approval, Mandate

DECISION = "pom-decision+jws"
RECORD = "pom-audit-record+jws"
HEAD = "pom-audit-head+jws"
MANDATE = "pom-mandate+jws"


def decision_claims(approval: Approval) -> dict[str, Any]:
    """What a decision binds: who decided what, for which facts (their digest), through which channel, when.
    An approval used since reads as approved (its decision), whatever it became afterwards."""
    claims: dict[str, Any] = {
        "approval_id": approval.id,
        "tool": approval.tool,
        "target": approval.target,
        "digest": approval.digest,
        "amount": approval.amount,
        "currency": approval.currency,
        "client": approval.client,
        "session": approval.session,
        "channel": approval.channel,
        "decision": "denied" if approval.state == "denied" else "approved",
        "decided_by": approval.decided_by,
        "decided_at": approval.decided_at,
        "created_at": approval.created_at,
        "expires_at": approval.expires_at,
    }
    if approval.proof is not None:
        claims["proof"] = approval.proof
    if approval.asked_by is not None:
        claims["asked_by"] = approval.asked_by
    if approval.mandate is not None:
        claims["mandate"] = approval.mandate
    if approval.reason is not None:
        claims["reason"] = approval.reason
    return claims


def mandate_claims(mandate: Mandate) -> dict[str, Any]:
    """What a standing approval binds: its terms (and their digest), who signed them, when, until when."""
    claims: dict[str, Any] = {
        "mandate_id": mandate.id,
        "terms": mandate.terms.as_json(),
        "digest": mandate.digest,
        "created_by": mandate.created_by,
        "created_at": mandate.created_at,
        "expires_at": mandate.expires_at,
    }
    if mandate.proof is not None:
        claims["proof"] = mandate.proof
    return claims


def record_claims(seq: int, digest: str) -> dict[str, Any]:
    """An audit record's signature covers its place and its hash (which covers every record before it)."""
    return {"seq": seq, "hash": digest}


def check(keys: list[PublicKey], token: str, typ: str) -> dict[str, Any]:
    """The claims of a token signed by one of `keys` (picked by its key id). Raises SignatureRefused."""
    refusals: list[str] = []
    for key in keys:
        try:
            return key.verify(token, typ)
        except SignatureRefused as exc:
            refusals.append(str(exc))
    raise SignatureRefused(refusals[0] if len(refusals) == 1 else "; ".join(sorted(set(refusals))))


def matches(keys: list[PublicKey], token: str | None, typ: str, claims: dict[str, Any]) -> str | None:
    """Why `token` is not a signature of exactly these claims by one of `keys`, or None when it is."""
    if token is None:
        return "it is not signed"
    try:
        signed = check(keys, token, typ)
    except SignatureRefused as exc:
        return str(exc)
    if signed != claims:
        changed = sorted(k for k in set(signed) | set(claims) if signed.get(k) != claims.get(k))
        return f"its signature does not match it (signed with other {', '.join(changed)})"
    return None
