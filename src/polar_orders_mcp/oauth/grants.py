"""What a bearer token grants: the client, the person behind it, and the scopes that map to the tools' tiers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

Tier = Literal["read", "write", "irreversible"]

SCOPE_READ = "polar:read"
SCOPE_WRITE = "polar:write"
SCOPE_MONEY = "polar:money"
SCOPES: tuple[str, ...] = (SCOPE_READ, SCOPE_WRITE, SCOPE_MONEY)

SCOPE_OF_TIER: dict[str, str] = {"read": SCOPE_READ, "write": SCOPE_WRITE, "irreversible": SCOPE_MONEY}
"""The scope a tool of each tier needs (a token's scopes are independent: polar:money alone reads nothing)."""

WHAT_SCOPE_ALLOWS: dict[str, str] = {
    SCOPE_READ: "read orders, checkouts, customers, products, subscriptions and disputes",
    SCOPE_WRITE: "create and change drafts, checkouts and links (no money moves)",
    SCOPE_MONEY: "ask to move money: charges, refunds, cancellations, accepted disputes (each still needs an "
    "approver's approval in the console)",
}
"""What each scope lets a client do, in the words of the consent page."""

Role = Literal["use", "approve"]
ROLES: tuple[Role, ...] = ("use", "approve")
"""use: may sign in to the authorization server so that a client acts for them; approve: may sign in to the
approval console and decide."""


@dataclass(frozen=True)
class Person:
    """The person a token stands for: `subject` as the issuer names them, `name` as people read it."""

    subject: str
    name: str
    issuer: str


@dataclass(frozen=True)
class Grant:
    """What one bearer token allows.

    `client`: the name sessions and approvals are bound to (a static token's name, or `oauth:<client id>`).
    `scopes`: None for a static token (every tier, as configured); else the scopes granted.
    `person`: who the client acts for; None for a static token (a program, not a person).
    """

    client: str
    scopes: frozenset[str] | None = None
    person: Person | None = None
    expires_at: float | None = None

    def allows(self, tier: str) -> bool:
        return self.scopes is None or SCOPE_OF_TIER.get(tier, SCOPE_MONEY) in self.scopes


class Verifier(Protocol):
    """Turns a bearer token into what it grants, or None when it grants nothing here (unknown, expired, revoked,
    for another audience, signed by another issuer …). Never raises for a bad token; never logs one."""

    async def verify(self, token: str) -> Grant | None: ...
