"""What the store keeps, as plain records, and the errors its atomic operations raise."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

ApprovalState = Literal["pending", "approved", "denied", "expired", "used"]
Channel = Literal["form", "url", "console", "relay", "off", "mandate"]
ActState = Literal["started", "done", "failed", "unknown"]
"""started: sent (or about to be) and not settled; done: Polar did it; failed: Polar did not;
unknown: the answer was lost and reading back could not tell. Only `failed` frees spend."""

SCHEMA_VERSION = 7

# An approval's id, as the store makes it and every irreversible tool takes it back (a relay token embeds it).
APPROVAL_ID_PREFIX = "apr_"
APPROVAL_ID_PATTERN = r"apr_[A-Za-z0-9_-]{16,64}"


def new_approval_id() -> str:
    """A fresh approval id: the prefix and 144 random bits."""
    return APPROVAL_ID_PREFIX + secrets.token_urlsafe(18)


"""1: the first schema. 2: free text (targets, client names, sessions, deciders, outcomes) in columns
without a length, so that PostgreSQL, which enforces VARCHAR lengths, takes what SQLite takes. 3: acts
indexed by target alone, for the check that no other act on a target is in flight. 4: approvers' passkeys,
their single-use nonces, a decision's passkey proof, each approval's boot (the run of the server that asked
for it), and signatures of the signing key on each decision, each audit record and the chain's head. 5: who
asked for an approval (the person an OAuth client acts for), and the embedded authorization server's clients,
codes and tokens (hashed). 6: standing approvals (mandates), and the one each approval was granted under.
7: the decider's reason on a decision, and approvals indexed by target."""

PASSKEY_REMOVED = "approved with a passkey since removed"
"""Why an approval proven by a passkey the approver removed since is not redeemed (NotRedeemable.state)."""
MANDATE_ENDED = "granted under a standing approval since revoked or expired"
"""Why an approval granted under a mandate that ended since is not redeemed (NotRedeemable.state)."""

Enrolment = Literal["added", "has_one", "had_one", "registered"]
"""What came of adding a passkey in the console: added; refused because the approver has a passkey (has_one),
or had one since the operator last reset theirs and removed it (had_one); or its credential is known already."""

IN_FLIGHT = 900.0
"""Seconds an act that was started and never settled keeps its target busy (a settled act frees it at
once). Longer than any request to Polar takes; after it, a target whose act was lost to a crash is free
again, and the facts read from Polar are what protect it."""


@dataclass(frozen=True)
class NewApproval:
    """An approval request as the guard makes it, before the store gives it an id."""

    tool: str
    target: str
    digest: str
    facts: dict[str, Any]
    summary: str
    message: str
    display: list[tuple[str, str, str]]
    """What a person reads, in order: (label, value, kind); kind "customer" marks customer-written text."""
    amount: int | None
    currency: str | None
    client: str
    session: str | None
    channel: Channel
    ttl: float
    asked_by: str | None = None
    """The person the asking client acts for (an OAuth token names them); None for a program's or stdio's."""
    client_name: str | None = None
    """The name the asking client gives itself (MCP clientInfo), shown to people only; None when it gave none."""


@dataclass(frozen=True)
class Approval:
    """One request for a human's approval of one irreversible call, and what became of it."""

    id: str
    tool: str
    target: str
    digest: str
    facts: dict[str, Any]
    summary: str
    message: str
    display: list[tuple[str, str, str]]
    amount: int | None
    currency: str | None
    client: str
    session: str | None
    channel: Channel
    state: ApprovalState
    created_at: float
    expires_at: float
    decided_by: str | None = None
    decided_at: float | None = None
    used_at: float | None = None
    outcome: str | None = None
    proof: dict[str, Any] | None = None
    """A decision made with a passkey: the WebAuthn assertion and what it was checked against."""
    boot: str | None = None
    """The run of the server that asked (SqlStore.boot); None for requests recorded before schema 4."""
    signature: str | None = None
    """The signing key's compact JWS of the decision (`signed.decision_claims`), made as it was recorded."""
    asked_by: str | None = None
    """The person the asking client acted for (OAuth); they may never approve it themselves."""
    mandate: str | None = None
    """The standing approval it was granted under (decided_by: the approver who signed that), or None."""
    client_name: str | None = None
    """The name the asking client gave itself (MCP clientInfo), shown beside `client`; never trusted."""
    reason: str | None = None
    """The decider's own words on the decision (the console's optional reason), cleaned; None when none."""

    def state_at(self, now: float) -> ApprovalState:
        """The state as of `now`: a pending or approved request past its expiry reads as expired."""
        if self.state in ("pending", "approved") and now >= self.expires_at:
            return "expired"
        return self.state


class Loaded(NamedTuple):
    """An approval read at the start of a call, with what the act will be checked against."""

    approval: Approval | None
    spent: int
    """Money moved in the approval's currency during the last day."""
    version: int
    """The version of the approval's target: see `Store.target_version`."""


class Requested(NamedTuple):
    """A request recorded: the approval, its audit record (if any) and its target's version then. `standing`:
    what checking the standing approvals gave (store/mandates.py's Granted, or Missed), when they were checked;
    `approval` is then the one granted under a mandate, or, when none covered it and nobody was to be asked,
    None."""

    approval: Approval | None
    record: AuditRecord | None
    version: int
    standing: Any = None


@dataclass(frozen=True)
class Act:
    """One money-moving call sent to Polar on an approval: what the spend totals count."""

    approval_id: str
    tool: str
    target: str
    currency: str | None
    amount: int
    state: ActState
    started_at: float
    finished_at: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)


class Earlier(NamedTuple):
    """What happened before on a request's call and target, for the person deciding it: the requests for the same
    call decided in the day before it (newest decision first), and Polar's refusals of that call on the target
    (failed acts with Polar's error code, newest first)."""

    decided: list[Approval]
    refused: list[Act]


@dataclass(frozen=True)
class AuditRecord:
    """One line of the audit chain: the entry and the hash that links it to the one before."""

    seq: int
    prev_hash: str
    hash: str
    entry: dict[str, Any]
    signature: str | None = None
    """The signing key's compact JWS of (seq, hash), made as the record was appended; None before schema 4."""


class AuditHead(NamedTuple):
    """The chain's last record as the store keeps it apart, signed on every append."""

    seq: int
    hash: str
    signature: str | None


@dataclass(frozen=True)
class ConsoleSession:
    approver: str
    csrf: str
    expires_at: float


@dataclass(frozen=True)
class Passkey:
    """An approver's passkey: a WebAuthn credential, its public key (COSE, base64url) and signature count."""

    credential_id: str
    approver: str
    public_key: str
    sign_count: int
    name: str
    created_at: float
    last_used_at: float | None = None
    removed_at: float | None = None


@dataclass(frozen=True)
class Proven:
    """A decision a verified passkey assertion makes: stored with it, the passkey's count moved on."""

    approve: bool
    credential_id: str
    sign_count: int
    """The count the assertion carried; the passkey's count was `seen` when it was verified."""
    seen: int
    proof: dict[str, Any]


GENESIS = "0" * 64


def canonical(entry: dict[str, Any]) -> str:
    """The one serialization an audit hash covers: sorted keys, ASCII only, no spaces."""
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


def chain_hash(prev_hash: str, seq: int, entry: dict[str, Any]) -> str:
    return hashlib.sha256(f"{prev_hash}\n{seq}\n{canonical(entry)}".encode()).hexdigest()


class StoreError(Exception):
    """Base class of what the store raises."""


class NotPending(StoreError):
    """A decision on an approval that is no longer pending (decided, used or expired)."""

    def __init__(self, approval: Approval | None, state: str) -> None:
        super().__init__(f"approval is {state}")
        self.approval, self.state = approval, state


class OwnRequest(StoreError):
    """An approval by the very person who asked for it: refused, whoever holds which credential (maker/checker)."""

    def __init__(self, approval: Approval) -> None:
        super().__init__(f"{approval.asked_by} asked for this and cannot approve it")
        self.approval = approval


class PasskeyChanged(StoreError):
    """A passkey decision whose passkey was used again or removed while it was checked: nothing was decided."""


class NotRedeemable(StoreError):
    """Redeeming an approval that is not approved now (pending, denied, expired or used already)."""

    def __init__(self, approval: Approval | None, state: str) -> None:
        super().__init__(f"approval is {state}")
        self.approval, self.state = approval, state


class LimitExceeded(StoreError):
    """A move of money over a configured limit. `kind` is "per_charge" or "daily"."""

    def __init__(self, kind: Literal["per_charge", "daily"], currency: str, limit: int, used: int, amount: int) -> None:
        super().__init__(f"{kind} limit of {limit} {currency} exceeded")
        self.kind, self.currency, self.limit, self.used, self.amount = kind, currency, limit, used, amount

    @property
    def left(self) -> int:
        return max(0, self.limit - self.used)


class TargetBusy(StoreError):
    """An act on a target that another act is in flight on, or that was acted on after the call read it.
    Nothing was changed: the approval, if any, is still as it was."""

    def __init__(self, target: str, why: Literal["in flight", "acted on since"]) -> None:
        super().__init__(f"{target} is {why}")
        self.target, self.why = target, why


class StoreBelongsElsewhere(StoreError):
    """The database holds the approvals and spend of another Polar server than this process talks to."""


class SchemaTooNew(StoreError):
    """The database was made by a newer version of this server."""


POSTGRES_DRIVER_MISSING = (
    "POLAR_MCP_DATABASE_URL is a PostgreSQL URL, and the PostgreSQL driver is not installed: install the postgres "
    "extra — pipx: `pipx inject polar-orders-mcp 'asyncpg>=0.29'` (or `pipx install --force "
    "'polar-orders-mcp[postgres]'`), uv: `uv tool install 'polar-orders-mcp[postgres]'`, pip: "
    "`pip install 'polar-orders-mcp[postgres]'`."
)


class DriverMissing(StoreError):
    """The database URL needs a driver this installation lacks (asyncpg, the postgres extra)."""


class StoreUnavailable(StoreError):
    """The database could not be reached, or failed a statement: the operation may not have happened.
    `reason` is the failure alone (e.g. "ConnectionRefusedError"), without where the database is."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class MandateTerms:
    """What a standing approval allows, as its approver signed it. Amounts in minor units of `currency`; an
    empty tuple or None places no constraint of that kind."""

    tools: tuple[str, ...]
    currency: str
    max_per_act: int
    daily_budget: int | None = None
    """At most this much moved under it in any 24 hours."""
    total_budget: int | None = None
    max_acts: int | None = None
    daily_acts: int | None = None
    """At most this many acts under it in any 24 hours."""
    max_order_age_days: int | None = None
    products: tuple[str, ...] = ()
    """Product ids an act's target must be for."""
    customers: tuple[str, ...] = ()
    """Customer ids or emails an act's target must belong to."""
    reasons: tuple[str, ...] = ()
    """Refund reasons an act must give."""
    for_client: str | None = None
    for_person: str | None = None
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "tools": list(self.tools),
            "currency": self.currency,
            "max_per_act": self.max_per_act,
            "daily_budget": self.daily_budget,
            "total_budget": self.total_budget,
            "max_acts": self.max_acts,
            "daily_acts": self.daily_acts,
            "max_order_age_days": self.max_order_age_days,
            "products": list(self.products),
            "customers": list(self.customers),
            "reasons": list(self.reasons),
            "for_client": self.for_client,
            "for_person": self.for_person,
            "note": self.note,
        }

    @classmethod
    def of_json(cls, data: dict[str, Any]) -> MandateTerms:
        tuples = ("tools", "products", "customers", "reasons")
        given: dict[str, Any] = {key: tuple(value) if key in tuples else value for key, value in data.items()}
        return cls(**given)

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.as_json(), sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Mandate:
    """A standing approval: terms an approver signed once, under which acts are done without asking."""

    id: str
    terms: MandateTerms
    digest: str
    created_by: str
    created_at: float
    expires_at: float
    revoked_at: float | None = None
    revoked_by: str | None = None
    proof: dict[str, Any] | None = None
    signature: str | None = None

    def state_at(self, now: float) -> Literal["active", "revoked", "expired"]:
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if now >= self.expires_at else "active"


@dataclass(frozen=True)
class MandateUsage:
    """What has been used of a mandate: acts under it not failed, and their amounts (in all; in the last day)."""

    acts: int
    total: int
    today: int
    acts_today: int = 0

    def left(self, terms: MandateTerms) -> dict[str, int | None]:
        """What is left of each budget (None: no budget of that kind)."""
        return {
            "acts": None if terms.max_acts is None else max(0, terms.max_acts - self.acts),
            "acts_today": None if terms.daily_acts is None else max(0, terms.daily_acts - self.acts_today),
            "daily": None if terms.daily_budget is None else max(0, terms.daily_budget - self.today),
            "total": None if terms.total_budget is None else max(0, terms.total_budget - self.total),
        }
