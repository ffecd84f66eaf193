"""Stateful property: nothing irreversible happens without a person's approval of that exact target.

Every tool of tier "irreversible" in the tool table is driven: charges, checkout confirmations, refunds,
revocations and conceded disputes. A hypothesis state machine drives random sequences of tool calls against
one emulator, through four in-memory MCP clients (both protocol eras, each with and without an elicitation
callback), for each confirmation policy (auto, console, elicit, relay). The model side is hostile: it passes
back approval ids it saw (pending, denied, used, or approved for another target), ids it made up, and tokens
shaped like relay tokens (forged with the wrong key, tampered with, spliced). A person at the approval
console approves or denies some requests; an intruder without an approver secret tries to approve others.
The person behind the elicitation clients approves, refuses, declines or cancels, and every question they
are asked is recorded. Polar now and then fails the next irreversible request (an error, or a dropped
connection before or after acting).

After every step the emulator's state is compared with the state before it. Every order that became
paid, every checkout that left `open`, every refund made, every subscription revoked and every dispute
conceded must be covered by an approval a person legitimately gave for that very target: a question they
approved in the client in that step, an approval id the console person approved and that was not used
before, or (relay mode only, where the model relays the token by design) a genuine token of that target.
What was done must be the facts that were approved.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import re
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import anyio
import httpx2
import mcp_types as types
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from mcp.client import Client

from polar_orders_mcp.approvals.console import console_app
from polar_orders_mcp.approvals.slowdown import SlowDown
from polar_orders_mcp.emulator.models import REFUND_BLOCKING_DISPUTE_STATUSES, Dispute, Subscription
from polar_orders_mcp.emulator.state import EmulatorState
from polar_orders_mcp.server.app import ServerParts, build_parts
from polar_orders_mcp.settings import Settings
from polar_orders_mcp.tools.registry import ALL_TOOLS
from tests.approvals.console_client import APPROVER_SECRET, Person
from tests.approvals.form_person import typed, typed_yes
from tests.properties.conftest import UUID, is_crash, quiet_emulator, result_text

CALL_SECONDS = 10
# Runs of 20 steps per policy: 8 in `make test-slow`, where each of the five tools acts at least twice per policy (a
# tool that never acts makes the test fail as vacuous); POLAR_MCP_MACHINE_EXAMPLES=200 in `make test-deep`.
MACHINE_EXAMPLES = int(os.environ.get("POLAR_MCP_MACHINE_EXAMPLES", "8"))
Pair = tuple[str, str]  # (tool, target): what an approval allows, and what an effect needs


@dataclass(frozen=True)
class Driven:
    """What the machine knows of one irreversible tool: the first line of what a person is asked (naming the
    target), the one request that acts at Polar, and the preview field naming the target."""

    question: re.Pattern[str]
    act: tuple[str, str]
    """Method and path of the request that acts; `{}` stands for the call's `act_arg`."""
    act_arg: str | None
    target_field: str


STALE_ONCE_DONE = frozenset({"order_status"})
"""Facts of a preview that an answer once done leaves out, having changed by the act (the order's status)."""

DRIVEN = {
    "finalize_order": Driven(
        re.compile(rf"Charge .+ for order ({UUID})"), ("POST", "/v1/orders/{}/finalize"), "order_id", "order_id"
    ),
    "confirm_checkout": Driven(
        re.compile(rf"Confirm checkout ({UUID}): .+"),
        ("POST", "/v1/checkouts/client/{}/confirm"),
        "client_secret",
        "checkout_id",
    ),
    "create_refund": Driven(
        re.compile(rf"Refund .+ for order ({UUID}) \(in (?:full|part)\)"), ("POST", "/v1/refunds/"), None, "order_id"
    ),
    "revoke_subscription": Driven(
        re.compile(rf"Revoke subscription ({UUID}) of .+ now \(.+\)"),
        ("PATCH", "/v1/subscriptions/{}"),
        "subscription_id",
        "subscription_id",
    ),
    "accept_dispute": Driven(
        re.compile(rf"Concede dispute ({UUID}) of order {UUID}: .+ keeps .+"),
        ("POST", "/v1/disputes/{}/accept"),
        "dispute_id",
        "dispute_id",
    ),
}
# From the tool table, not from DRIVEN: an irreversible tool added later is driven, or the test says what to add.
IRREVERSIBLE = tuple(tool.name for tool in ALL_TOOLS if tool.tier == "irreversible")
ANSWERS = ("approve", "approve", "refuse", "decline", "cancel")
# The clients each policy mostly meets: elicit mostly sees clients that ask, relay mostly clients that don't.
CLIENTS = {
    "auto": (False, True),
    "console": (False, True),
    "elicit": (True, True, False),
    "relay": (False, False, True),
}
ID_KINDS = ("none", "none", "approved", "pending", "denied", "used", "other", "made up", "forged", "tampered")
PAYMENT_TOKENS = (None, "tok_visa", "tok_visa", "tok_chargeDeclined", "tok_threeDSecureRequired")
REFUND_AMOUNTS = (None, 100)  # all that is left, or $1.00 of it
FAULTS = ("status", "drop_before", "drop_after")
NOTHING_DONE = (
    "was not charged",
    "nothing was charged",
    "was not confirmed",
    "was not refunded",
    "was not revoked",
    "was not accepted",
)
# An order's statuses once it was charged, and the changes a refund makes.
MONEY_TAKEN = ("paid", "partially_refunded", "refunded")
REFUNDED = {("paid", "partially_refunded"), ("paid", "refunded"), ("partially_refunded", "refunded")}
RANDOM = "<random id>"
EFFECTS: Counter[str] = Counter()  # what the runs really did, so that a vacuous run fails


@dataclass(frozen=True)
class World:
    """The emulator's money-relevant state at one moment."""

    orders: dict[str, tuple[str, str | None]]  # id → (status, checkout id)
    checkouts: dict[str, str]
    refunds: dict[str, str]  # id → order id
    subscriptions: dict[str, tuple[str, bool]]  # id → (status, ended)
    disputes: dict[str, tuple[str, str | None]]  # id → (status, its order's subscription id)


def world(state: EmulatorState) -> World:
    store = state.store
    return World(
        orders={o.id: (o.status, o.checkout_id) for o in store.orders},
        checkouts={c.id: c.status for c in store.checkouts.values()},
        refunds={r.id: r.order.id for r in store.refunds},
        subscriptions={s.id: (s.status, s.ended_at is not None) for s in store.subscriptions.values()},
        disputes={
            d.id: (d.status, d.order.subscription.id if d.order.subscription else None) for d in store.disputes.values()
        },
    )


def effects(before: World, after: World) -> set[Pair]:
    """What happened between two worlds, each as the (tool, target) an approval must cover.
    A change no tool may make comes out as ("unexplained ...", id), which nothing covers."""
    found: set[Pair] = set()
    for order_id, (status, checkout_id) in after.orders.items():
        was = before.orders[order_id][0] if order_id in before.orders else "draft"  # or paid by its checkout at once
        if was == "draft" and status in MONEY_TAKEN:
            found.add(("confirm_checkout", checkout_id) if checkout_id else ("finalize_order", order_id))
            was = "paid"
        if was != status:
            found.add(("create_refund" if (was, status) in REFUNDED else f"unexplained {(was, status)}", order_id))
    for checkout_id, status in after.checkouts.items():
        was_status = before.checkouts.get(checkout_id, "open")  # every checkout is created open
        if was_status == "open" and status in ("confirmed", "succeeded"):
            found.add(("confirm_checkout", checkout_id))
        elif was_status != status and (was_status, status) not in (("open", "expired"), ("confirmed", "succeeded")):
            found.add((f"unexplained checkout {(was_status, status)}", checkout_id))
    found |= {("create_refund", order) for refund, order in after.refunds.items() if refund not in before.refunds}
    conceded: set[str] = set()  # subscriptions Polar revokes because their order's dispute was conceded
    for dispute_id, (status, subscription_id) in after.disputes.items():
        opened = before.disputes.get(dispute_id, ("needs_response", None))[0]  # a bank opens one needing a response
        if (opened, status) == ("needs_response", "lost"):
            found.add(("accept_dispute", dispute_id))
            conceded |= {subscription_id} if subscription_id else set()
        elif opened != status:
            found.add((f"unexplained dispute {(opened, status)}", dispute_id))
    for subscription_id, now in after.subscriptions.items():
        was = before.subscriptions.get(subscription_id, ("active", False))  # every subscription starts running
        if not was[1] and now[1] and subscription_id not in conceded:
            found.add(("revoke_subscription", subscription_id))
        elif was != now and subscription_id not in conceded:
            found.add((f"unexplained subscription {(was, now)}", subscription_id))
    return found


def question_target(message: str) -> Pair:
    first = message.splitlines()[0]
    for tool, driven in DRIVEN.items():
        if match := driven.question.fullmatch(first):
            return tool, match.group(1)
    raise AssertionError(f"the person was asked something that names no target: {message!r}")


@dataclass
class Human:
    """The person behind the elicitation clients: answers as the step says, records every question."""

    answer: str = "approve"
    asked: list[str] = field(default_factory=list)

    async def __call__(self, _ctx: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        self.asked.append(params.message)
        if self.answer == "approve":
            return typed_yes(params)
        if self.answer == "refuse":  # accepted, with what a reader of the facts would not type
            return typed(params, "0.00")
        return types.ElicitResult(action=self.answer)  # type: ignore[arg-type]

    def approved(self) -> set[Pair]:
        targets = {question_target(message) for message in self.asked}
        return targets if self.answer == "approve" else set()


@dataclass
class Request:
    """An approval request a first call made: what it is for, and what became of it."""

    tool: str
    target: str
    args: dict[str, Any]
    facts: dict[str, Any]
    decision: str = "pending"  # pending, approved, denied
    spent: bool = False


def forged_token(approval_id: str) -> str:
    """A relay token of the right shape for a real approval, signed with a key the server never had."""
    return f"pr1.{approval_id}.{hmac.new(b'not the server key', approval_id.encode(), hashlib.sha256).hexdigest()[:43]}"


@functools.cache
def emulator_and_parts(mode: str) -> tuple[Any, ServerParts]:
    """One emulator and one server per policy, shared by the runs (each run resets the emulator's data)."""
    import os
    import tempfile

    emulator = quiet_emulator()
    folder = tempfile.mkdtemp(prefix="pom-property-")
    parts = build_parts(
        Settings(
            emulator=True,
            confirm=mode,
            audit_log=os.devnull,
            approver_token=APPROVER_SECRET,
            approval_wait=0,
            state_dir=folder,
        ),
        transport=httpx2.ASGITransport(app=emulator),
    )
    return emulator, parts


class ApprovalMachine(RuleBasedStateMachine):
    """Random tool calls and console decisions; checks after each step that every effect was approved."""

    mode = "auto"

    def __init__(self) -> None:
        super().__init__()
        self.emulator, self.parts = emulator_and_parts(self.mode)
        # The intruder's wrong secrets would be answered later and later (seconds, for every run after): what is
        # checked here is that no intrusion decides anything, so they are answered at once.
        self.parts.console.slow_down = SlowDown(step=0.0, most=0.0)
        self.state: EmulatorState = self.emulator.state.emulator
        self.state.reset()
        self.state.settings.receipt_render_polls = 0
        seed = self.state.seed_info
        self.stack = ExitStack()
        self.portal: BlockingPortal = self.stack.enter_context(start_blocking_portal())
        self.human = Human()
        self.clients: dict[tuple[str, bool], Client] = {}
        self.start = world(self.state)
        self.confirmed: set[Pair] = set()
        self.requests: dict[str, Request] = {}  # by approval id, or by relay token in relay mode
        self.drafts = list(seed.draft_orders.values())
        self.orders = [*self.drafts, *seed.orders_by_status.values()]
        self.secrets = [seed.open_checkout_client_secret, seed.expired_checkout_client_secret]
        self.customers = list(seed.customers.values())
        self.products = list(seed.products.values())
        self.payment_methods = list(seed.payment_methods.values())
        self.acted_here: set[str] = set()  # the tools that acted in this run
        self.subscriptions = list(seed.subscriptions.values())
        self.disputes = list(seed.disputes.values())

    @initialize()
    def connect(self) -> None:
        for era in ("auto", "legacy"):
            for asks in (False, True):
                client = Client(self.parts.server, mode=era, elicitation_callback=self.human if asks else None)
                self.clients[(era, asks)] = self.stack.enter_context(self.portal.wrap_async_context_manager(client))
        self.person = self.stack.enter_context(self.portal.wrap_async_context_manager(Person(self.parts.console)))

    def teardown(self) -> None:
        self.stack.close()

    # Drawing arguments.

    def pick(self, data: st.DataObject, pool: list[str], label: str) -> str:
        chosen = data.draw(st.sampled_from([*pool, RANDOM]), label=label)
        return data.draw(st.uuids(version=4).map(str), label=f"random {label}") if chosen == RANDOM else chosen

    def checkout_of(self, secret: str) -> str:
        checkout = self.state.store.checkouts_by_secret.get(secret)
        return checkout.id if checkout else "<no such checkout>"

    def target_args(self, data: st.DataObject, tool: str) -> tuple[dict[str, Any], str]:
        if tool == "create_refund":
            order_id = self.pick(data, self.orders, "order_id")
            amount = data.draw(st.sampled_from(REFUND_AMOUNTS), label="refund amount")
            return {"order_id": order_id} | ({"amount": amount} if amount else {}), order_id
        if tool == "revoke_subscription":
            subscription_id = self.pick(data, self.subscriptions, "subscription_id")
            return {"subscription_id": subscription_id}, subscription_id
        if tool == "accept_dispute":
            dispute_id = self.pick(data, self.disputes, "dispute_id")
            return {"dispute_id": dispute_id}, dispute_id
        if tool == "confirm_checkout":
            secret = data.draw(st.sampled_from(self.secrets), label="client_secret")
            args: dict[str, Any] = {"client_secret": secret}
            if payment := data.draw(st.sampled_from(PAYMENT_TOKENS), label="payment"):
                args["payment_token"] = payment
            return args, self.checkout_of(secret)
        assert tool == "finalize_order", f"add {tool}'s arguments to target_args"
        order_id = self.pick(
            data, self.drafts if data.draw(st.booleans(), label="a draft") else self.orders, "order_id"
        )
        args = {"order_id": order_id}
        if data.draw(st.sampled_from(["default", "default", "another"]), label="card") == "another":
            args["payment_method_id"] = data.draw(st.sampled_from(self.payment_methods), label="another card")
        return args, order_id

    def approval_for(self, data: st.DataObject, tool: str, target: str) -> str | None:
        """What a hostile model passes back as approval_id."""
        kind = data.draw(st.sampled_from(ID_KINDS), label="approval_id kind")
        mine = [i for i, r in self.requests.items() if (r.tool, r.target) == (tool, target)]
        others = [i for i, r in self.requests.items() if (r.tool, r.target) != (tool, target)]
        by_state = {
            "approved": [i for i in mine if self.requests[i].decision == "approved"],
            "pending": [i for i in mine if self.requests[i].decision == "pending"],
            "denied": [i for i in mine if self.requests[i].decision == "denied"],
            "used": [i for i in mine if self.requests[i].spent],
            "other": others,
        }
        if by_state.get(kind):
            return data.draw(st.sampled_from(by_state[kind]), label=f"{kind} id")
        if kind == "made up":
            return "apr_" + data.draw(st.text("abcdefghijklmnopqrstuvwxyzABC0123456789-_", min_size=16, max_size=30))
        real = [i.split(".")[1] if i.startswith("pr1.") else i for i in self.requests]
        if kind == "forged" and real:
            return forged_token(data.draw(st.sampled_from(real), label="forged for"))
        if kind == "tampered":
            tokens = [i for i in self.requests if i.startswith("pr1.")]
            if tokens and real:
                token = data.draw(st.sampled_from(tokens), label="token to tamper with")
                other_id = data.draw(st.sampled_from(real), label="splice in")
                return f"pr1.{other_id}.{token.split('.')[2]}"
        return None

    def live_targets(self, tool: str) -> list[tuple[dict[str, Any], str]]:
        store = self.state.store
        if tool == "create_refund":
            disputed = {d.order.id for d in store.disputes.values() if d.status in REFUND_BLOCKING_DISPUTE_STATUSES}
            return [
                ({"order_id": o.id} | ({"amount": 100} if o.refundable_amount > 100 else {}), o.id)
                for o in store.orders
                if o.status in ("paid", "partially_refunded")
                and o.has_succeeded_payment
                and o.refundable_amount > 0
                and not o.refunds_blocked
                and o.id not in disputed
            ]
        if tool == "revoke_subscription":
            return [
                ({"subscription_id": s.id}, s.id)
                for s in store.subscriptions.values()
                if s.can_cancel(immediately=True)
            ]
        if tool == "accept_dispute":
            return [({"dispute_id": d.id}, d.id) for d in store.disputes.values() if d.status == "needs_response"]
        if tool == "finalize_order":
            return [
                ({"order_id": o.id}, o.id)
                for o in store.orders
                if o.status == "draft"
                and o.customer.default_payment_method_id
                and store.payment_methods[o.customer.default_payment_method_id].outcome == "succeeds"
            ]
        assert tool == "confirm_checkout", f"add {tool}'s live targets to live_targets"
        return [
            ({"client_secret": c.client_secret, "payment_token": "tok_visa"}, c.id)
            for c in store.checkouts.values()
            if c.status == "open" and c.customer_email and c.customer_billing_address
        ]

    def make_live(self, data: st.DataObject, tool: str) -> list[tuple[dict[str, Any], str]]:
        """A new target that would act at once, made through the write tools as an agent would, or (what no tool
        makes: a subscription, a dispute) as a customer or their bank would."""
        seed = self.state.seed_info
        store = self.state.store
        now = self.state.now()
        if tool == "revoke_subscription":
            product = store.product(seed.products["recurring"])
            amount = product.prices[0].price_amount or 0
            s = Subscription(
                store.new_id(),
                now,
                seed.customers["good_card"],
                product.id,
                amount,
                "month",
                now,
                now + timedelta(days=30),
            )
            store.subscriptions[s.id] = s
            self.subscriptions.append(s.id)
        elif tool == "accept_dispute":
            disputed = {d.order.id for d in store.disputes.values()}
            undisputed = [o for o in store.orders if o.has_succeeded_payment and o.id not in disputed]
            order = data.draw(st.sampled_from(undisputed), label="order the bank disputes")
            payment = store.derived_id("payment", order.id)
            d = Dispute(
                store.new_id(),
                now,
                order,
                "needs_response",
                order.net_amount,
                order.tax_amount,
                payment,
                reason="fraudulent",
                evidence_due_by=now + timedelta(days=7),
            )
            store.disputes[d.id] = d
            self.disputes.append(d.id)
        elif tool == "finalize_order":
            draft = self.step(
                data,
                "create_order",
                {
                    "customer_id": seed.customers["good_card"],
                    "product_id": seed.products["one_time_fixed"],
                },
            )
            if not draft.is_error:
                self.drafts.append((draft.structured_content or {})["id"])
        elif tool == "confirm_checkout":
            checkout = self.step(data, "create_checkout", {"products": [seed.products["one_time_fixed"]]})
            secret = (checkout.structured_content or {}).get("client_secret")
            if secret:
                self.secrets.append(secret)
                self.step(
                    data,
                    "update_checkout_by_secret",
                    {
                        "client_secret": secret,
                        "customer_email": "buyer@example.com",
                        "customer_billing_address": {
                            "country": "US",
                            "state": "US-NY",
                            "city": "New York",
                            "line1": "1 Main St",
                            "postal_code": "10001",
                        },
                    },
                )
        return self.live_targets(tool)

    # The rules.

    @rule(data=st.data(), tool=st.sampled_from(IRREVERSIBLE))
    def irreversible(self, data: st.DataObject, tool: str) -> None:
        args, target = self.target_args(data, tool)
        if approval_id := self.approval_for(data, tool, target):
            args["approval_id"] = approval_id
        self.step(data, tool, args, target=target)

    @rule(data=st.data(), tool=st.sampled_from(IRREVERSIBLE))
    def a_hostile_model_on_a_live_target(self, data: st.DataObject, tool: str) -> None:
        """The attack that matters: a target that would act at once, and an approval_id that must not let it."""
        live = self.live_targets(tool) or self.make_live(data, tool)
        if not live:  # nothing left to act on, and nothing the machine can make (refunds: the seed's orders)
            return
        args, target = data.draw(st.sampled_from(live), label="live target")
        if not any((r.tool, r.target) == (tool, target) for r in self.requests.values()):
            self.step(data, tool, dict(args), target=target, asks=False)  # a request the model can then abuse
        kinds = ("pending", "denied", "used", "other", "made up", "forged", "tampered")
        kind = data.draw(st.sampled_from(kinds), label="bad approval kind")
        mine = [i for i, r in self.requests.items() if (r.tool, r.target) == (tool, target)]
        bad: str | None = None
        if kind == "forged" and mine:
            bad = forged_token(mine[-1].split(".")[1] if mine[-1].startswith("pr1.") else mine[-1])
        elif kind == "pending":
            bad = next((i for i in mine if self.requests[i].decision == "pending" and not i.startswith("pr1.")), None)
        elif kind == "denied":
            # One a person denied in the console: the request just made, when none for this target was denied yet.
            pending = [i for i in mine if self.requests[i].decision == "pending" and not i.startswith("pr1.")]
            if pending and all(self.requests[i].decision != "denied" for i in mine):
                self.decide(pending[-1], "deny")
            bad = next((i for i in mine if self.requests[i].decision == "denied"), None)
        else:
            bad = self.approval_for(data, tool, target)
        if bad is not None and not (bad in self.requests and self.requests[bad].decision == "approved"):
            self.step(data, tool, {**args, "approval_id": bad}, target=target, asks=False)

    @rule(data=st.data())
    def a_person_approves_a_live_target(self, data: st.DataObject) -> None:
        """The happy path, so that every run also shows approvals that do let things happen: of a tool that has
        not acted in this run yet, while there is one."""
        fresh = [tool for tool in IRREVERSIBLE if tool not in self.acted_here] or list(IRREVERSIBLE)
        tool = data.draw(st.sampled_from(fresh), label="tool")
        live = self.live_targets(tool) or self.make_live(data, tool)
        if not live:  # nothing left to act on, and nothing the machine can make (refunds: the seed's orders)
            return
        args, target = data.draw(st.sampled_from(live), label="live target")
        if self.mode == "elicit" or (self.mode == "auto" and data.draw(st.booleans(), label="ask in the client")):
            self.step(data, tool, dict(args), target=target, asks=True, answer="approve")
            return
        first = self.step(data, tool, dict(args), target=target, asks=False)
        approval = (first.structured_content or {}).get("approval") or {}
        if approval_id := approval.get("approval_id"):
            if self.mode != "relay":
                self.decide(approval_id, "approve")
            self.step(data, tool, {**args, "approval_id": approval_id}, target=target, asks=False)

    @rule(data=st.data(), decision=st.sampled_from(["approve", "approve", "deny"]))
    def the_console_person_decides(self, data: st.DataObject, decision: str) -> None:
        pending = [i for i, r in self.requests.items() if r.decision == "pending" and not i.startswith("pr1.")]
        if pending:
            self.decide(data.draw(st.sampled_from(pending), label="request"), decision)

    @rule(data=st.data())
    def an_intruder_tries_to_approve(self, data: st.DataObject) -> None:
        """No approver secret: a forged form, a wrong secret, or another origin must never decide anything."""
        pending = [i for i, r in self.requests.items() if r.decision == "pending" and not i.startswith("pr1.")]
        if not pending:
            return
        approval_id = data.draw(st.sampled_from(pending), label="request")
        how = data.draw(st.sampled_from(["no session", "wrong secret", "cross origin"]), label="intrusion")

        async def intrude() -> int:
            app = console_app(self.parts.console)
            if how == "cross origin":
                # The signed-in person's own browser, made to post from another site.
                page = await self.person.http.get(f"/approvals/{approval_id}")
                csrf = re.search(r'name="csrf" value="([^"]*)"', page.text)
                response = await self.person.http.post(
                    f"/approvals/{approval_id}",
                    data={"csrf": csrf.group(1) if csrf else "", "decision": "approve"},
                    headers={"Origin": "https://evil.example"},
                )
                return response.status_code
            secret = "not-the-approver-secret" if how == "wrong secret" else "x" * 20
            async with Person(app=app, secret=secret, peer=("203.0.113.7", 40000)) as bad:
                if how == "wrong secret":
                    await bad.sign_in()
                response = await bad.http.post(
                    f"/approvals/{approval_id}", data={"csrf": "forged", "decision": "approve"}
                )
                return response.status_code

        status = self.portal.call(intrude)
        assert status in (303, 403), f"an intruder's {how} got {status}"
        approval = self.portal.call(self.store_approval, approval_id)
        assert approval is not None and approval.state == "pending", f"an intruder ({how}) decided {approval_id}"

    async def store_approval(self, approval_id: str) -> Any:
        return await (await self.parts.store()).get_approval(approval_id)

    @rule(tool=st.sampled_from(IRREVERSIBLE), kind=st.sampled_from(FAULTS))
    def polar_fails_the_next_act(self, tool: str, kind: str) -> None:
        method, path = DRIVEN[tool].act
        self.state.faults.add(kind, path.format("{id}"), method=method)  # type: ignore[arg-type]

    @rule(data=st.data())
    def write_call(self, data: st.DataObject) -> None:
        tool = data.draw(st.sampled_from(sorted(WRITES)), label="write tool")
        result = self.step(data, tool, WRITES[tool](self, data))
        content = result.structured_content or {}
        if not result.is_error and tool == "create_order":
            self.drafts.append(content["id"])
        if not result.is_error and tool == "create_checkout" and content.get("client_secret"):
            self.secrets.append(content["client_secret"])

    @invariant()
    def everything_since_the_start_was_approved(self) -> None:
        unconfirmed = effects(self.start, world(self.state)) - self.confirmed
        assert not unconfirmed, f"done without a person's approval: {sorted(unconfirmed)}"

    # One step: call, then hold every effect of the call against the approvals of the call.

    def decide(self, approval_id: str, decision: str) -> None:
        response = self.portal.call(self.person.approve if decision == "approve" else self.person.deny, approval_id)
        request = self.requests[approval_id]
        if response.status_code == 303:
            request.decision = "approved" if decision == "approve" else "denied"
        else:  # expired, or decided by a call already (a client's answer)
            assert response.status_code == 409, response.text[:300]

    def step(
        self,
        data: st.DataObject,
        tool: str,
        args: dict[str, Any],
        *,
        target: str = "",
        asks: bool | None = None,
        answer: str | None = None,
    ) -> types.CallToolResult:
        era = data.draw(st.sampled_from(["auto", "legacy"]), label="protocol era")
        if asks is None:
            asks = data.draw(st.sampled_from(CLIENTS[self.mode]), label="client can elicit")
        if answer is None:
            answer = data.draw(st.sampled_from(ANSWERS), label="answer") if asks else "approve"
        self.human.answer = answer
        self.human.asked.clear()
        self.state.faults.journal.clear()
        passed = args.get("approval_id")
        request = self.requests.get(passed) if passed else None
        legitimate = (
            request is not None
            and (request.tool, request.target) == (tool, target)
            and not request.spent
            and (request.decision == "approved" or passed.startswith("pr1."))
        )
        before = world(self.state)
        result = self.call(era, asks, tool, args)
        after = world(self.state)

        if self.mode in ("console", "relay") or tool not in DRIVEN:
            assert not self.human.asked, f"{tool} asked in the client although it may not: {self.human.asked}"
        allowed = ({(tool, target)} if legitimate else set()) | self.human.approved()
        happened = effects(before, after)
        assert happened <= allowed, (
            f"{tool}({args}) did {sorted(happened - allowed)} without a person's approval of it "
            f"(approved for this step: {sorted(allowed)}; server said: {result_text(result)[:300]})"
        )
        if happened:
            self.check_facts(result, request if legitimate else None)
        self.confirmed |= allowed
        EFFECTS.update(t for t, _ in happened)
        self.acted_here.update(t for t, _ in happened)
        self.orders += [o for o in after.orders if o not in before.orders]
        if request is not None and legitimate and (self.acted(tool, args) or not result.is_error):
            request.spent = True
        self.remember(tool, args, result, target)
        return result

    def check_facts(self, result: types.CallToolResult, request: Request | None) -> None:
        """What was done is what was approved. A call that failed after Polar acted must not say nothing was done."""
        if result.is_error:
            text = result_text(result)
            assert not any(claim in text for claim in NOTHING_DONE), f"an effect, yet the agent was told: {text}"
            return
        done = (result.structured_content or {}).get("preview")
        assert done is not None, f"an effect without a preview of it: {result_text(result)[:300]}"
        if request is not None:
            # A refund's answer leaves out the order's status as it was before (stale once refunded): not a fact
            # of the act itself.
            approved = {k: v for k, v in request.facts.items() if k in done or k not in STALE_ONCE_DONE}
            assert done == approved, f"acted on {done}, but the approved preview was {request.facts}"
        else:
            shown = [message.splitlines()[0] for message in self.human.asked]
            assert done["summary"] in shown, f"acted on {done['summary']!r}, but the person was asked {shown}"

    def call(self, era: str, asks: bool, tool: str, args: dict[str, Any]) -> types.CallToolResult:
        client = self.clients[(era, asks)]

        async def bounded() -> types.CallToolResult:
            with anyio.fail_after(CALL_SECONDS):
                return await client.call_tool(tool, args)

        result = self.portal.call(bounded)
        assert not is_crash(result), f"{tool}({args}) crashed: {result_text(result)}"
        return result

    def acted(self, tool: str, args: dict[str, Any]) -> bool:
        """Did the call send its act to Polar?"""
        driven = DRIVEN[tool]
        method, path = driven.act
        path = path.format(args.get(driven.act_arg)) if driven.act_arg else path
        return any(r.method == method and r.path == path for r in self.state.faults.journal)

    def remember(self, tool: str, args: dict[str, Any], result: types.CallToolResult, target: str) -> None:
        content = result.structured_content or {}
        if result.is_error or content.get("status") not in ("approval_pending", "confirmation_required"):
            return
        preview = content["preview"]
        previewed = preview[DRIVEN[tool].target_field]
        assert previewed == target, f"{tool} previewed {previewed}, asked about {target}"
        approval_id = content["approval"]["approval_id"]
        if approval_id not in self.requests:
            asked = {k: v for k, v in args.items() if k != "approval_id"}
            self.requests[approval_id] = Request(tool, target, asked, preview)


Draw = Callable[[ApprovalMachine, st.DataObject], dict[str, Any]]


def _update_checkout_by_secret(machine: ApprovalMachine, data: st.DataObject) -> dict[str, Any]:
    change = data.draw(st.sampled_from(["email", "address", "name", "amount"]), label="change")
    return {"client_secret": data.draw(st.sampled_from(machine.secrets))} | {
        "email": {"customer_email": "buyer@example.com"},
        "address": {
            "customer_billing_address": {
                "country": "US",
                "state": "US-NY",
                "line1": "1 Main St",
                "city": "New York",
                "postal_code": "10001",
            }
        },
        "name": {"customer_name": data.draw(st.sampled_from(["Buyer", "Another Buyer"]))},
        "amount": {"amount": data.draw(st.sampled_from([500, 2000]))},
    }[change]


WRITES: dict[str, Draw] = {
    "create_order": lambda m, d: {
        "customer_id": m.pick(d, m.customers, "customer_id"),
        "product_id": m.pick(d, m.products, "product_id"),
    },
    "create_checkout": lambda m, d: {"products": [m.pick(d, m.products, "product_id")]},
    "update_checkout_by_secret": _update_checkout_by_secret,
}


def test_every_irreversible_tool_is_driven_by_the_machine() -> None:
    undriven = sorted(set(IRREVERSIBLE) - set(DRIVEN))
    assert not undriven, (
        f"the tool table has irreversible tools the property test does not drive: {undriven}. Add each to DRIVEN "
        "(the question a person is asked, the request that acts, the preview field naming the target) and to "
        "ApprovalMachine's target_args, live_targets and make_live, and its effects on the emulator to effects()."
    )


@pytest.mark.parametrize("mode", ["auto", "console", "elicit", "relay"])
def test_nothing_irreversible_happens_without_a_persons_approval_of_its_target(mode: str) -> None:
    test_every_irreversible_tool_is_driven_by_the_machine()
    EFFECTS.clear()
    machine = type(f"ApprovalMachine_{mode}", (ApprovalMachine,), {"mode": mode})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=MACHINE_EXAMPLES,
            stateful_step_count=20,
            deadline=None,
            database=None,
            derandomize=True,
            # A failing run prints its whole sequence of steps: shrinking one takes minutes.
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
    # Not vacuous: legitimate approvals of every irreversible tool did act along the way.
    assert all(EFFECTS[tool] for tool in IRREVERSIBLE), EFFECTS
