"""The store's interface: the small async surface every backend (SQLite, PostgreSQL) implements."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from polar_orders_mcp.store.records import (
    Act,
    ActState,
    Approval,
    ApprovalState,
    AuditRecord,
    ConsoleSession,
    Earlier,
    Enrolment,
    Loaded,
    NewApproval,
    Passkey,
    Proven,
    Requested,
)

Standing = Callable[[Any, NewApproval, float], Awaitable[Any]]
"""Grants a request under a standing approval in the store's transaction (its connection, the request, now):
store/mandates.py's `MandateStore.grant_in`, bound to what the act must fit."""


class Store(Protocol):
    """Durable, shared state. Every method is atomic on its own; none holds a lock between calls."""

    url_for_humans: str
    """Where the data lives, without any password: for messages and logs."""
    boot: str
    """This run of the server, recorded with each approval it asks for."""
    started_at: float
    """When this run opened the store (its clock)."""

    def now(self) -> float: ...

    # Approvals ------------------------------------------------------------------------------------
    async def create_approval(self, new: NewApproval) -> Approval: ...

    async def request_approval(
        self,
        new: NewApproval,
        *,
        daily: int | None = None,
        audit: Callable[[Approval], dict[str, Any] | None] | None = None,
        standing: Standing | None = None,
        ask: bool = True,
    ) -> Requested:
        """create_approval and, in the same transaction, refuse it (LimitExceeded, nothing recorded) when the
        money moved in its currency during the last day plus its amount passes `daily`, and append the audit
        entry `audit` makes of it (if any) to the audit chain, returning its record and the target's version.
        `standing`: first, in that transaction, grant it under a standing approval if one covers it (its result
        in `Requested.standing`); `ask` False records nothing when none does."""
        ...

    async def get_approval(self, approval_id: str) -> Approval | None: ...

    async def approval_with_spent(self, approval_id: str, *, window: float = 86_400.0) -> Loaded:
        """get_approval, spent() in the approval's currency and the target's version, read in one transaction."""
        ...

    async def list_approvals(
        self,
        *,
        states: Sequence[ApprovalState],
        limit: int = 50,
        channels: Sequence[str] | None = None,
        offset: int = 0,
    ) -> list[Approval]:
        """Pending ones oldest first; decided ones newest decision first; `limit` of them after the first
        `offset`. Expiry is applied as of now; only the given channels, when given."""
        ...

    async def decide(
        self, approval_id: str, *, approve: bool, by: str, redeem_window: float, reason: str | None = None
    ) -> Approval:
        """pending → approved | denied, once, with the decider's `reason` when given; raises NotPending otherwise.
        An approval gets at least `redeem_window` seconds from the decision to be used."""
        ...

    async def earlier_on(self, approval: Approval, *, window: float = 86_400.0, limit: int = 5) -> Earlier:
        """The decided requests for the same tool and target asked in the `window` before this one, newest
        decision first, and Polar's refusals of the same call on the target (failed acts with its error code)."""
        ...

    async def redeem(self, approval_id: str, *, digest: str) -> Approval:
        """approved → used, once, if still valid and for these facts; raises NotRedeemable otherwise."""
        ...

    async def redeem_and_start(
        self,
        approval_id: str,
        *,
        digest: str,
        tool: str,
        target: str,
        currency: str | None,
        amount: int,
        per_charge: int | None,
        daily: int | None,
        seen: int,
    ) -> Approval:
        """redeem, then start_act for it, in one transaction. NotRedeemable or TargetBusy: nothing changed.
        LimitExceeded: the approval stays used, with the outcome `refused_limit`, and no act is counted."""
        ...

    async def set_outcome(self, approval_id: str, outcome: str) -> None: ...

    # Acts and spend -------------------------------------------------------------------------------
    async def start_act(
        self,
        *,
        approval_id: str,
        tool: str,
        target: str,
        currency: str | None,
        amount: int,
        per_charge: int | None,
        daily: int | None,
        seen: int,
    ) -> Act:
        """Record a money-moving call about to be sent, checking the limits and counting it in the
        same transaction: concurrent calls from any process can never together pass a limit.
        Acts on one target are serialized: `seen` is the target's version as read before the facts the act
        carries were read from Polar, and the act is refused (TargetBusy, nothing recorded) when another act
        on the target is in flight or started or settled since. Raises LimitExceeded, TargetBusy."""
        ...

    async def finish_act(
        self,
        approval_id: str,
        state: ActState,
        detail: dict[str, Any] | None = None,
        *,
        outcome: str | None = None,
        audit: dict[str, Any] | None = None,
        moved: tuple[int, str] | None = None,
    ) -> AuditRecord | None:
        """Settle the act (a new version of its target); in the same transaction set its approval's outcome,
        count what Polar reports it `moved` (amount, currency) instead of the approved amount, and append
        `audit` to the audit chain (returning its record) when given."""
        ...

    async def spent(self, currency: str | None, *, window: float = 86_400.0) -> int:
        """Money moved (or possibly moved) in `currency` during the last `window` seconds."""
        ...

    async def acts_for(self, tool: str, target: str, *, window: float = 86_400.0) -> list[Act]: ...

    async def target_version(self, target: str) -> int:
        """A number that changes whenever an act on `target` starts or settles (0: never acted on). Read it
        before reading the facts an act will carry, and pass it to the act as `seen`."""
        ...

    # Audit chain ----------------------------------------------------------------------------------
    async def append_audit(self, entry: dict[str, Any]) -> AuditRecord: ...

    async def audit_records(self, *, after: int = 0, limit: int | None = None) -> list[AuditRecord]: ...

    async def audit_tail(self, count: int) -> list[AuditRecord]: ...

    # Console sessions -----------------------------------------------------------------------------
    async def create_console_session(self, *, token_hash: str, approver: str, csrf: str, ttl: float) -> None: ...

    async def get_console_session(self, token_hash: str) -> ConsoleSession | None: ...

    async def console_view(
        self, token_hash: str, approval_id: str
    ) -> tuple[ConsoleSession | None, Approval | None, Earlier | None]:
        """get_console_session and get_approval, read in one transaction; for a signed-in session's look at a
        request still waiting, what `earlier_on` gives too (else None)."""
        ...

    async def decide_in_console(
        self,
        token_hash: str,
        approval_id: str,
        judge: Callable[[ConsoleSession | None, Approval | None], bool | None],
        *,
        redeem_window: float,
        reason: str | None = None,
    ) -> tuple[ConsoleSession | None, Approval | None]:
        """In one transaction: read the session and the approval, ask `judge` (approve: True, deny: False,
        leave it: None), and decide as `decide` does, by the session's approver, with their `reason`. Returns
        what was read, the approval as decided. Raises NotPending as `decide` does."""
        ...

    async def delete_console_session(self, token_hash: str) -> None: ...

    # Passkeys -------------------------------------------------------------------------------------
    async def add_passkey(self, passkey: Passkey) -> None: ...

    async def enrol_passkey(self, passkey: Passkey, *, audit: dict[str, Any]) -> Enrolment:
        """add_passkey as the console does it, trust on first use: in one transaction, refuse it (nothing
        written) while the approver has a passkey added since the operator last reset theirs, removed or not
        ("has_one", "had_one"), or when its credential is known ("registered"); else add it and append `audit`
        to the audit chain."""
        ...

    async def passkeys_since_reset(self, approver: str) -> list[Passkey]:
        """The approver's passkeys added since the operator last reset theirs (all, if never), removed or not."""
        ...

    async def all_passkeys(self, approver: str | None = None) -> list[Passkey]:
        """Every passkey (of one approver, when given), removed or not, by approver then age."""
        ...

    async def reset_passkeys(
        self, approver: str, *, audit: Callable[[Passkey | None], dict[str, Any]]
    ) -> list[Passkey]:
        """In one transaction: mark every passkey of the approver that is not removed removed, record the reset
        (the approver may add a passkey in the console again), and append to the audit chain `audit` of each
        passkey removed, or `audit(None)` when there was none. Returns the passkeys removed."""
        ...

    async def list_passkeys(self, approver: str) -> list[Passkey]:
        """The approver's passkeys that are not removed, oldest first."""
        ...

    async def get_passkey(self, credential_id: str) -> Passkey | None:
        """One passkey by its credential id, removed or not."""
        ...

    async def remove_passkey(self, credential_id: str, *, approver: str) -> bool:
        """Mark the approver's passkey removed (kept, so that what it proved can be told apart); False when the
        approver has no such passkey."""
        ...

    async def create_passkey_nonce(self, *, token_hash: str, purpose: str, ttl: float) -> str:
        """A fresh random nonce for one page served to one console session, for one purpose ("enrol", or
        "decide:<approval id>"): what a passkey's challenge is made from."""
        ...

    async def take_passkey_nonce(self, nonce: str, *, token_hash: str, purpose: str) -> bool:
        """Use the nonce up; True when it was this session's, for this purpose, and not expired."""
        ...

    async def decide_with_passkey(
        self,
        token_hash: str,
        approval_id: str,
        *,
        credential_id: str,
        nonce: str,
        judge: Callable[[ConsoleSession | None, Approval | None, Passkey | None, bool], Proven | None],
        redeem_window: float,
    ) -> tuple[ConsoleSession | None, Approval | None]:
        """In one transaction: read the session, the approval and the passkey, use the nonce up (the judge is
        told whether it was this session's for this approval), and ask `judge`; when it returns a decision,
        move the passkey's count on (only from the count it was verified against, and only while it is the
        session's approver's and not removed: PasskeyChanged otherwise) and decide as `decide` does, storing
        the proof. Raises NotPending as `decide` does."""
        ...

    async def open(self) -> None:
        """Connect now and create or upgrade the schema (otherwise done on first use). Raises
        SchemaTooNew for a database of a newer version, StoreUnavailable when it cannot be reached."""
        ...

    async def close(self) -> None: ...
