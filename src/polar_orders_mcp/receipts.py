"""A decision and its outcome as a signed receipt a merchant keeps, checked offline with the public key alone.

Shaped after AP2 v0.2's closed PaymentMandate (what was approved: `transaction_id` the hash of the facts,
`payee`, `payment_amount` in minor units, `payment_instrument`, `iat`/`exp`, who approved and how) and its
PaymentReceipt (`reference` the hash of the mandate, `status`, Polar's id of what moved, when). The receipt
is one compact JWS (EdDSA): any JOSE library checks it, and the bytes signed are the bytes kept, with no JSON
canonicalization for a verifier to get right. It carries, verbatim, the evidence made at the time: the
decision's own signature and the audit records of the call with theirs.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from polar_orders_mcp.signing import PublicKey, SignatureRefused, SigningKey, canonical
from polar_orders_mcp.store import signed
from polar_orders_mcp.store.records import Act, Approval, AuditRecord, chain_hash

RECEIPT = "pom-receipt+jws"


class ReceiptRefused(ValueError):
    """A receipt, or the store's record of a decision, that does not check out."""


def _time(timestamp: float | None) -> str | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")


def _money(amount: int | None, currency: str | None) -> dict[str, Any] | None:
    return None if amount is None or not currency else {"value": amount, "currency": currency.upper()}


def mandate(approval: Approval, decision: dict[str, Any], payee: str | None) -> dict[str, Any]:
    """The closed mandate: what the person decided, for exactly which facts."""
    facts = approval.facts
    shown: dict[str, Any] = {
        "payment_mandate_id": approval.id,
        "transaction_id": approval.digest,
        "payee": {"polar_server": payee},
        "payment_amount": _money(approval.amount, approval.currency),
        "payment_instrument": facts.get("payment_method") or facts.get("payment_method_id"),
        "target": {"tool": approval.tool, "id": approval.target},
        "iat": int(approval.created_at),
        "exp": int(approval.expires_at),
        "decision": decision["decision"],
        "approver": approval.decided_by,
        "decided_at": _time(approval.decided_at),
        "channel": approval.channel,
        "client": approval.client,
        "facts": facts,
    }
    if approval.proof is not None:
        shown["proof"] = approval.proof
    if approval.asked_by is not None:
        shown["asked_by"] = approval.asked_by
    if approval.mandate is not None:
        # Granted under a standing approval (AP2's open mandate) that `approver` signed: named, as the decision does.
        shown["standing_mandate"] = approval.mandate
    return shown


def _status(approval: Approval, act: Act | None) -> str:
    if approval.state == "denied":
        return "denied"
    if act is None:
        return "not_acted"
    if act.state == "done":
        return "mismatch" if approval.outcome == "mismatch" else "succeeded"
    return {"started": "pending", "failed": "failed", "unknown": "unknown"}[act.state]


def build(
    approval: Approval, act: Act | None, records: list[AuditRecord], payee: str | None, key: SigningKey, now: float
) -> str:
    """The receipt of one decided approval, signed now. Refused (ReceiptRefused) when the store's record of the
    decision no longer matches the signature made as it was decided."""
    if approval.decided_at is None:
        raise ReceiptRefused(f"approval {approval.id} was never decided ({approval.state_at(now)}): no receipt")
    claims = signed.decision_claims(approval)
    if why := signed.matches([key.public], approval.signature, signed.DECISION, claims):
        raise ReceiptRefused(f"approval {approval.id} in the store does not match its decision's signature: {why}")
    assert approval.signature is not None
    shown = mandate(approval, claims, payee)
    moved_by = next((r.entry.get("polar_id") for r in reversed(records) if r.entry.get("polar_id")), None)
    receipt = {
        "reference": hashlib.sha256(canonical(shown)).hexdigest(),
        "status": _status(approval, act),
        "polar_id": moved_by,
        "amount_moved": _money(act.amount, act.currency) if act is not None and act.state != "failed" else None,
        "time": _time(act.finished_at if act is not None else approval.decided_at),
    }
    evidence = [
        {"seq": r.seq, "prev": r.prev_hash, "hash": r.hash, "entry": r.entry, "sig": r.signature} for r in records
    ]
    document = {
        "iss": "polar-orders-mcp",
        "iat": int(now),
        "payment_mandate": shown,
        "payment_receipt": receipt,
        "decision": approval.signature,
        "audit": evidence,
    }
    return key.sign(document, RECEIPT)


def verify(token: str, keys: list[PublicKey]) -> dict[str, Any]:
    """The receipt's content once every part of it checks out with `keys`; ReceiptRefused says what did not."""
    try:
        document = signed.check(keys, token.strip(), RECEIPT)
    except SignatureRefused as exc:
        raise ReceiptRefused(f"the receipt's signature does not check out: {exc}") from None
    try:
        shown, receipt = document["payment_mandate"], document["payment_receipt"]
        decision = signed.check(keys, document["decision"], signed.DECISION)
    except SignatureRefused as exc:
        raise ReceiptRefused(f"the decision inside the receipt does not check out: {exc}") from None
    except (KeyError, TypeError) as exc:
        raise ReceiptRefused(f"the receipt lacks {exc}") from None
    expected = {
        "payment_mandate_id": decision.get("approval_id"),
        "transaction_id": decision.get("digest"),
        "payment_amount": _money(decision.get("amount"), decision.get("currency")),
        "target": {"tool": decision.get("tool"), "id": decision.get("target")},
        "decision": decision.get("decision"),
        "approver": decision.get("decided_by"),
        "decided_at": _time(decision.get("decided_at")),
        "channel": decision.get("channel"),
        "client": decision.get("client"),
        "proof": decision.get("proof"),
        "asked_by": decision.get("asked_by"),
        "standing_mandate": decision.get("mandate"),
    }
    for name, value in expected.items():
        if shown.get(name) != value:
            raise ReceiptRefused(f"the mandate's {name} is not what the decision's signature covers")
    digest = hashlib.sha256(canonical(shown.get("facts") or {})).hexdigest()
    if digest != shown["transaction_id"]:
        raise ReceiptRefused("the mandate's facts are not the ones its transaction_id (their hash) names")
    if receipt.get("reference") != hashlib.sha256(canonical(shown)).hexdigest():
        raise ReceiptRefused("the receipt's reference is not the hash of its mandate")
    for record in document.get("audit") or []:
        _check_record(record, keys, shown["payment_mandate_id"])
    return document


def _check_record(record: dict[str, Any], keys: list[PublicKey], approval_id: str) -> None:
    seq = record.get("seq")
    entry = record.get("entry") or {}
    if chain_hash(str(record.get("prev")), int(seq or 0), entry) != record.get("hash"):
        raise ReceiptRefused(f"audit record {seq} in the receipt does not match its hash")
    claims = signed.record_claims(int(seq or 0), str(record.get("hash")))
    if why := signed.matches(keys, record.get("sig"), signed.RECORD, claims):
        raise ReceiptRefused(f"audit record {seq} in the receipt: {why}")
    if entry.get("approval_id") != approval_id:
        raise ReceiptRefused(f"audit record {seq} in the receipt is about another approval")
