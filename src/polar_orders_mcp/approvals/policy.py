"""The confirmation policy: which channel asks a person, the spending limits, and relay tokens."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from typing import Any, ClassVar, Literal, Protocol

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError

from polar_orders_mcp.approvals.limits import ConfirmMode, Limits
from polar_orders_mcp.approvals.passkeys import PasskeyPolicy, Site
from polar_orders_mcp.approvals.preview import Preview
from polar_orders_mcp.money import money
from polar_orders_mcp.store.base import Store
from polar_orders_mcp.store.records import APPROVAL_ID_PATTERN, APPROVAL_ID_PREFIX, Approval, Channel

Ctx = Context[Any, Any]


@dataclass(frozen=True)
class Caller:
    """Who made a call: the client's credential name, its protocol session when it has one, and the person it
    acts for when its token names one (OAuth)."""

    client: str
    session: str | None = None
    person: str | None = None
    declared: str | None = None
    """The name the client gives itself (MCP clientInfo: its title, else its name), cleaned: shown to people beside
    `client`, never trusted for anything (any client may call itself anything)."""


class ConsoleLink(Protocol):
    """Where a person approves: the approval console's state and its links."""

    notice: str | None
    """What to say beside every link, e.g. that the configured port was taken; None when nothing."""

    def unavailable(self) -> str | None:
        """Why no person can approve in the console now (e.g. no approver configured), or None."""
        ...

    def link(self, ctx: Ctx, approval_id: str | None = None) -> str:
        """The console's address for this call's client; with an id, that request's own page."""
        ...

    def site(self) -> Site | str:
        """Where its passkeys are made and checked (RP ID and exact origin), or why passkeys cannot be used."""
        ...


UNABLE = "this client cannot show confirmation requests"


class ConfirmationRefused(ToolError):
    """Nothing was done: no valid approval allows this call."""


def capabilities(ctx: Ctx) -> tuple[bool, bool]:
    """(form, url): the elicitation modes the client declared. A bare `elicitation: {}` (the only
    shape before modes existed) means form; url-only does not."""
    declared = ctx.client_capabilities
    elicitation = declared.elicitation if declared is not None else None
    if elicitation is None:
        return False, False
    form = elicitation.form is not None or elicitation.url is None
    return form, elicitation.url is not None


@dataclass
class RelayTokens:
    """Relay mode's model-relayed tokens: an HMAC over the approval they stand for."""

    secret: bytes
    PREFIX: ClassVar[str] = "pr1"
    SIGNATURE_LENGTH: ClassVar[int] = 43  # hex digits of the HMAC kept
    PATTERN: ClassVar[str] = rf"pr1\.{APPROVAL_ID_PATTERN}\.[0-9a-f]{{{SIGNATURE_LENGTH}}}"

    @classmethod
    def looks_like_one(cls, value: str) -> bool:
        """Whether an approval_id a call brings is a relay token (checked in full only once loaded)."""
        return value.startswith(cls.PREFIX + ".")

    def issue(self, approval: Approval) -> str:
        return f"{self.PREFIX}.{approval.id}.{self._sign(approval.id, approval.tool, approval.target, approval.digest)}"

    def approval_id(self, token: str) -> str:
        """The approval a token names, before its signature is checked against that approval."""
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != self.PREFIX or not parts[1].startswith(APPROVAL_ID_PREFIX):
            raise ConfirmationRefused("The confirmation_token is malformed: pass it back exactly as it was given.")
        return parts[1]

    def check(self, token: str, approval: Approval) -> None:
        expected = self.issue(approval).encode()
        # Bytes on both sides: compare_digest refuses a str with non-ASCII characters.
        if not hmac.compare_digest(token.encode("utf-8", "replace"), expected):
            raise ConfirmationRefused("The confirmation_token is not valid: it was altered or not issued here.")

    def _sign(self, *parts: str) -> str:
        return hmac.new(self.secret, "\n".join(parts).encode(), hashlib.sha256).hexdigest()[: self.SIGNATURE_LENGTH]


@dataclass
class Guard:
    """One per server: the policy every irreversible tool goes through, and what it needs to apply it."""

    mode: ConfirmMode
    store: Callable[[], Awaitable[Store]]
    relay: RelayTokens
    console: ConsoleLink
    identify: Callable[[Ctx], Caller]
    ttl: float = 900.0
    wait: float = 60.0
    max_charge: Limits = field(default_factory=Limits)
    max_daily: Limits = field(default_factory=Limits)
    approval_above: Limits = field(default_factory=Limits)
    person_clients: frozenset[str] = frozenset({"stdio"})
    """Clients with a person at the screen: only their answer to a confirmation form is a person's approval."""
    passkeys: PasskeyPolicy = field(default_factory=PasskeyPolicy)
    """Which approvals need the approver's passkey: those are asked in the console only (or its URL)."""
    redeem_window: float = 300.0
    poll_interval: float = 0.5
    zone: tzinfo = UTC
    """The zone of the times a person reads in a confirmation (UTC is shown beside)."""
    audit_writer: str | None = None
    """Who writes this server's audit records (AuditTrail.writer), for the record the flow chains in its last
    store write; None: the flow chains none."""

    def form_refusal(self, who: Caller, amount: int | None, currency: str | None) -> str | None:
        """Why this client's answer to a confirmation form cannot approve a move of `amount` under the policy in
        force now, or None when it can. Checked when a form is asked and again when its answer arrives: the
        server answering (restarted, another replica) may by then hold another policy."""
        if self.mode not in ("auto", "elicit"):
            return f"this server takes approvals {'in the approval console' if self.mode == 'console' else 'no more'}"
        threshold = self.approval_above.of(currency)
        if threshold is not None and amount is not None and amount > threshold:
            return f"above {threshold} minor units of {currency} (--approval-above) only the approval console approves"
        if self.passkeys.needs(amount, currency):
            return "it needs the approver's passkey, which only the approval console's page can ask for"
        if who.person is not None:
            return f"{who.person} asked for it through this client, and only another person may approve it"
        if who.client not in self.person_clients:
            return (
                f"this client ({who.client}) is not one the operator marked as having a person at the screen "
                "(--person-clients)"
            )
        return None

    def choose(self, ctx: Ctx, preview: Preview, not_done: str) -> Channel:
        """The channel that asks a person about this call, or a refusal saying why none can."""
        if self.mode == "off":
            return "off"
        if self.mode == "relay":
            return "relay"
        amount, currency = preview.money()
        threshold = self.approval_above.of(currency)
        second_person = threshold is not None and amount is not None and amount > threshold
        no_console = self.console.unavailable()
        if self.mode == "console" or second_person:
            if no_console:
                why = (
                    "this server requires the approval console"
                    if self.mode == "console"
                    else (
                        f"above {threshold} minor units of {currency} (--approval-above) only the approval console may "
                        "approve"
                    )
                )
                raise ConfirmationRefused(f"{not_done}: {why}, and {no_console}")
            return "console"
        # A passkey is asked on the console's own page: never in a client's form, whoever answers it.
        passkey = self.passkeys.needs(amount, currency)
        form, url = capabilities(ctx)
        who = self.identify(ctx)
        client = who.client
        if who.person is not None:
            # Maker and checker: the person the client acts for asked, so someone else decides, in the console
            # (the client's form and the page it opens would both be the asker's own).
            form = url = False
        # A form is answered by whatever runs the client: a hook, a script, another model. It is a person's
        # answer only where the operator said a person sits at that client.
        unattended = form and client not in self.person_clients
        if form and self.form_refusal(who, amount, currency) is None:
            return "form"
        if url and not no_console:
            return "url"
        if passkey and self.mode == "elicit" and form:
            raise ConfirmationRefused(
                f"{not_done}: this server needs the approver's passkey for it, which only the approval console's "
                "page can ask for, and it lets a person approve only in the client (--confirm elicit), which "
                "cannot open that page here (no URL elicitation)."
            )
        if passkey and no_console:
            raise ConfirmationRefused(f"{not_done}: this server needs the approver's passkey for it, and {no_console}")
        unmarked = (
            f"this client ({client}) is not one the operator marked as having a person at the screen "
            "(--person-clients), so its answer to a confirmation form would be nobody's"
        )
        if self.mode == "elicit" and who.person is not None:
            raise ConfirmationRefused(
                f"{not_done}: {who.person} asked for it, only another person may approve it, and this server takes "
                "approvals only in the client that asks (--confirm elicit). The operator can let the approval "
                "console decide (--confirm auto)."
            )
        if self.mode == "elicit":
            cannot = unmarked if unattended else f"{UNABLE} (no form or URL elicitation)"
            raise ConfirmationRefused(
                f"{not_done}: this server requires a person to approve in the client (--confirm elicit), and {cannot}."
            )
        if no_console:
            cannot = unmarked if unattended else UNABLE
            raise ConfirmationRefused(
                f"{not_done}: no person can be asked. {cannot[0].upper()}{cannot[1:]}, and {no_console}"
            )
        return "console"

    async def check_limits(
        self, preview: Preview, not_done: str, used: int | None = None, *, daily: bool = True
    ) -> None:
        """Refuse before anyone is asked when the move is over a limit (checked again, atomically, at the act).
        `used`: the money moved in the preview's currency during the last day, when read already; `daily`
        False leaves the daily limit to the store operation that records the request."""
        amount, currency = preview.money()
        if amount is None or currency is None:
            return
        for limits, flag in (
            (self.max_charge, "--max-charge"),
            (self.max_daily, "--max-daily"),
            (self.approval_above, "--approval-above"),
            (self.passkeys.above, "--passkey-above"),
        ):
            if not limits.names(currency):
                raise ConfirmationRefused(unnamed_currency_message(not_done, currency, limits, flag))
        per_charge = self.max_charge.of(currency)
        if per_charge is not None and amount > per_charge:
            raise ConfirmationRefused(limit_message(not_done, "per_charge", currency, per_charge, 0, amount))
        limit = self.max_daily.of(currency)
        if limit is not None and daily:
            if used is None:
                used = await (await self.store()).spent(currency)
            if used + amount > limit:
                raise ConfirmationRefused(limit_message(not_done, "daily", currency, limit, used, amount))


def unnamed_currency_message(not_done: str, currency: str, limits: Limits, flag: str) -> str:
    code = currency.upper()
    named = ", ".join(sorted(c.upper() for c in limits.per_currency))
    return (
        f"{not_done}: it moves money in {code}, and this server's {flag} names only {named}: a move in a "
        f"currency its limits leave out is refused. The operator who runs this server can add {currency}=AMOUNT "
        f"to {flag}, or *=AMOUNT for every other currency."
    )


def limit_message(
    not_done: str, kind: Literal["per_charge", "daily"], currency: str, limit: int, used: int, amount: int
) -> str:
    code = currency.upper()
    if kind == "per_charge":
        return (
            f"{not_done}: {money(amount, currency)} is over this server's limit for a single move of money in "
            f"{code}, {money(limit, currency)} (--max-charge). A person can do it in Polar's dashboard, or the "
            "operator who runs this server can raise --max-charge."
        )
    left = max(0, limit - used)
    return (
        f"{not_done}: {money(amount, currency)} would take the money moved in {code} in the last 24 hours to "
        f"{money(used + amount, currency)}, over this server's limit of {money(limit, currency)} (--max-daily); "
        f"{money(left, currency)} is left until earlier moves are 24 hours old. A person can do it in Polar's "
        "dashboard, or the operator who runs this server can raise --max-daily."
    )
