"""Stateful property: nothing is charged, confirmed or invoiced without a valid confirmation of that exact target.

A hypothesis state machine drives random sequences of tool calls against one emulator, through four
in-memory MCP clients (both protocol eras, each with and without an elicitation callback), for each
confirmation policy (auto, token, elicit). Targets come from the seed (drafts of every customer kind,
orders in every status, open and expired checkouts and their client secrets), from objects the machine
created, and from random ids. Confirmation tokens are absent, genuine (issued by a preview of exactly
this tool and target), issued for another call, replayed after use, tampered with, forged with the
right facts but the wrong key, or garbage; arguments a model might smuggle in (`approval`, `preview`,
`confirm`) ride along. The person behind the elicitation clients approves, refuses, declines or
cancels, and every question they are asked is recorded. Polar now and then fails the next
irreversible request (an error, or a dropped connection before or after acting).

After every step the emulator's state is compared with the state before it. Every order that became
paid, every checkout that left `open` by confirmation and every invoice generated must be covered by a
confirmation the machine legitimately gave in that very step: a genuine, unspent token of that tool
and target on the token path, or an approved question naming that target on the elicitation path. An
invariant checks the same for everything since the start against the set of all such confirmations.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import os
import re
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import anyio
import mcp_types as types
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from mcp.client import Client
from mcp.server.mcpserver import MCPServer

from polar_orders_mcp.emulator.state import EmulatorState
from polar_orders_mcp.tools.guard import digest
from tests.properties.conftest import UUID, emulator_server, is_crash, quiet_emulator, result_text

CALL_SECONDS = 10
Pair = tuple[str, str]  # (tool, target): what a confirmation allows, and what an effect needs

# The first line of every question names the action and its one target.
QUESTIONS = {
    "finalize_order": re.compile(rf"Charge .+ for order ({UUID})"),
    "generate_invoice": re.compile(rf"Generate the permanent invoice for order ({UUID}) \(.+"),
    "confirm_checkout": re.compile(rf"Confirm checkout ({UUID}): .+"),
}
IRREVERSIBLE = tuple(QUESTIONS)
ANSWERS = ("approve", "approve", "refuse", "decline", "cancel")
# The clients each policy mostly meets: those it takes its confirmations from, and the others.
CLIENTS = {"auto": (False, True), "token": (False, False, True), "elicit": (True, True, False)}
TOKEN_KINDS = ("none", "genuine", "none", "genuine", "other", "replayed", "tampered", "forged", "garbage")
BAD_TOKEN_KINDS = ("other", "replayed", "tampered", "forged")
TAMPERING = ("retarget", "extend", "splice", "flip", "cut")
PAYMENT_TOKENS = (None, "tok_visa", "tok_visa", "tok_chargeDeclined", "tok_threeDSecureRequired")
# Arguments a model might add to talk its way past the guard; the server must ignore them.
SMUGGLED: tuple[dict[str, Any], ...] = (
    {},
    {},
    {"approval": {"action": "accept", "content": {"approve": True}}},
    {"preview": {"summary": "approved"}, "confirm": True},
)
SMUGGLED_KEYS = frozenset(key for extra in SMUGGLED for key in extra)
# The request each irreversible tool sends to act, once its confirmation was accepted.
ACT_PATHS = {
    "finalize_order": "/v1/orders/{}/finalize",
    "generate_invoice": "/v1/orders/{}/invoice",
    "confirm_checkout": "/v1/checkouts/client/{}/confirm",
}
FAULTS = ("status", "drop_before", "drop_after")
NOTHING_DONE = ("was not charged", "nothing was charged", "No invoice was generated", "was not confirmed")
RANDOM = "<random id>"
EFFECTS: Counter[str] = Counter()  # what the runs really did, so that a vacuous run fails


@dataclass(frozen=True)
class OrderFacts:
    status: str
    invoiced: bool
    checkout_id: str | None


@dataclass(frozen=True)
class World:
    """The emulator's money-relevant state at one moment."""

    orders: dict[str, OrderFacts]
    checkouts: dict[str, str]


def world(state: EmulatorState) -> World:
    store = state.store
    return World(
        orders={o.id: OrderFacts(o.status, o.is_invoice_generated, o.checkout_id) for o in store.orders},
        checkouts={c.id: c.status for c in store.checkouts.values()},
    )


def effects(before: World, after: World) -> set[Pair]:
    """What happened between two worlds, each as the (tool, target) a confirmation must cover.
    A change no tool may make comes out as ("unexplained ...", id), which nothing covers."""
    found: set[Pair] = set()
    for order_id, now in after.orders.items():
        was = before.orders.get(order_id)
        if was is None and now.status == "paid":
            found.add(("confirm_checkout", now.checkout_id) if now.checkout_id else ("finalize_order", order_id))
        elif was is None and now.status != "draft":
            found.add((f"unexplained: new order {now.status}", order_id))
        elif was is not None and was.status != now.status:
            change = (was.status, now.status)
            found.add(("finalize_order" if change == ("draft", "paid") else f"unexplained {change}", order_id))
        if now.invoiced and not (was and was.invoiced):
            found.add(("generate_invoice", order_id))
    for checkout_id, now_status in after.checkouts.items():
        was_status = before.checkouts.get(checkout_id, "open")  # every checkout is created open
        change = (was_status, now_status)
        if was_status == "open" and now_status in ("confirmed", "succeeded"):
            found.add(("confirm_checkout", checkout_id))
        elif was_status != now_status and change not in (("open", "expired"), ("confirmed", "succeeded")):
            found.add((f"unexplained checkout {change}", checkout_id))
    return found


def question_target(message: str) -> Pair:
    first = message.splitlines()[0]
    for tool, pattern in QUESTIONS.items():
        if match := pattern.fullmatch(first):
            return tool, match.group(1)
    raise AssertionError(f"the person was asked something that names no target: {message!r}")


@dataclass
class Human:
    """The person behind the elicitation clients: answers as the current step says, records every question."""

    answer: str = "approve"
    asked: list[str] = field(default_factory=list)

    async def __call__(self, _ctx: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        self.asked.append(params.message)
        if self.answer in ("approve", "refuse"):
            return types.ElicitResult(action="accept", content={"approve": self.answer == "approve"})
        return types.ElicitResult(action=self.answer)  # type: ignore[arg-type]

    def approved(self) -> set[Pair]:
        """The targets the person said yes to in this step (every question must name one)."""
        targets = {question_target(message) for message in self.asked}
        return targets if self.answer == "approve" else set()


@dataclass
class Issued:
    """A token a preview handed out, with the preview's arguments and facts."""

    tool: str
    target: str
    args: dict[str, Any]
    facts: dict[str, Any]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(tool: str, target: str, facts: dict[str, Any]) -> str:
    """A token of the right shape for exactly this call and facts, signed with a key the server never had."""
    payload = {"t": tool, "g": target, "f": digest(facts), "e": round(time.time() + 300, 3), "n": "00" * 8}
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    return f"pc1.{body}.{_b64(hmac.new(b'not the server key', body.encode(), hashlib.sha256).digest())}"


def tamper(token: str, donor: str, tool: str, target: str, how: str) -> str:
    """A genuine token altered: retargeted, its expiry pushed, its signature swapped or flipped, or cut."""
    prefix, body, signature = token.split(".")
    if how in ("retarget", "extend"):
        payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        payload.update({"t": tool, "g": target} if how == "retarget" else {"e": payload["e"] + 86_400})
        return f"{prefix}.{_b64(json.dumps(payload, separators=(',', ':')).encode())}.{signature}"
    if how == "splice":
        return f"{prefix}.{body}.{donor.split('.')[2]}"
    if how == "flip":
        return f"{prefix}.{body}.{signature[:-1]}{'A' if signature[-1] != 'A' else 'B'}"
    return token[:-1]


@functools.cache
def emulator_and_server(mode: str) -> tuple[Any, MCPServer[Any]]:
    """One emulator and one server per confirmation policy, shared by the runs of the machine
    (building a server is what takes time; each run resets the emulator's data)."""
    emulator = quiet_emulator()
    return emulator, emulator_server(emulator, confirm=mode, audit_log=os.devnull)


class ConfirmationMachine(RuleBasedStateMachine):
    """Random tool calls against one emulator; checks after each step that every effect was confirmed."""

    mode = "auto"  # the server's confirmation policy; the test runs one subclass per policy

    def __init__(self) -> None:
        super().__init__()
        self.emulator, self.server = emulator_and_server(self.mode)
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
        self.issued: dict[str, Issued] = {}
        self.spent: dict[str, None] = {}  # an ordered set: draws from it must not depend on token bytes
        self.presented: list[str] = []
        uninvoiced_paid = [o.id for o in self.state.store.orders if o.status == "paid" and not o.is_invoice_generated]
        self.drafts = list(seed.draft_orders.values())
        self.orders = [*self.drafts, *seed.orders_by_status.values(), *uninvoiced_paid[:3]]
        self.checkout_ids = [seed.open_checkout_id, seed.expired_checkout_id, seed.succeeded_checkout_id]
        self.secrets = [seed.open_checkout_client_secret, seed.expired_checkout_client_secret]
        self.customers = list(seed.customers.values())
        self.products = list(seed.products.values())
        self.payment_methods = list(seed.payment_methods.values())

    @initialize()
    def connect(self) -> None:
        for era in ("auto", "legacy"):
            for asks in (False, True):
                client = Client(self.server, mode=era, elicitation_callback=self.human if asks else None)
                self.clients[(era, asks)] = self.stack.enter_context(self.portal.wrap_async_context_manager(client))

    def teardown(self) -> None:
        self.stack.close()

    # Drawing arguments.

    def pick(self, data: st.DataObject, pool: list[str], label: str) -> str:
        chosen = data.draw(st.sampled_from([*pool, RANDOM]), label=label)
        return data.draw(st.uuids(version=4).map(str), label=f"random {label}") if chosen == RANDOM else chosen

    def pick_secret(self, data: st.DataObject) -> str:
        chosen = data.draw(st.sampled_from([*self.secrets, RANDOM]), label="client_secret")
        return "polar_c_" + data.draw(st.text("abcXYZ019", min_size=1, max_size=40)) if chosen == RANDOM else chosen

    def checkout_of(self, secret: str) -> str:
        checkout = self.state.store.checkouts_by_secret.get(secret)
        return checkout.id if checkout else "<no such checkout>"

    def target_args(self, data: st.DataObject, tool: str) -> tuple[dict[str, Any], str]:
        """Arguments for an irreversible tool, and the target the guard will bind its token to."""
        if tool == "confirm_checkout":
            secret = self.pick_secret(data)
            args: dict[str, Any] = {"client_secret": secret}
            if payment := data.draw(st.sampled_from([*PAYMENT_TOKENS, *self.payment_methods]), label="payment"):
                args["payment_token"] = payment
            return args, self.checkout_of(secret)
        # Mostly drafts for finalize, so that the charges that may happen do happen.
        drafts_first = tool == "finalize_order" and data.draw(st.booleans(), label="a draft")
        order_id = self.pick(data, self.drafts if drafts_first else self.orders, "order_id")
        args = {"order_id": order_id}
        if tool == "finalize_order":
            order = self.state.store.orders_by_id.get(order_id)
            own = order.customer.default_payment_method_id if order else None
            card = data.draw(st.sampled_from(["default", "own", "default", "another", RANDOM]), label="card")
            if card == "own" and own:
                args["payment_method_id"] = own
            elif card == "another":
                args["payment_method_id"] = data.draw(st.sampled_from(self.payment_methods), label="another card")
            elif card == RANDOM:
                args["payment_method_id"] = str(data.draw(st.uuids(version=4)))
        return args, order_id

    def token_for(
        self, data: st.DataObject, tool: str, target: str, kinds: tuple[str, ...] = TOKEN_KINDS
    ) -> str | None:
        kind = data.draw(st.sampled_from(kinds), label="token kind")
        mine = [t for t, i in self.issued.items() if (i.tool, i.target) == (tool, target)]
        # Tokens of the same tool on other targets first: the likeliest mix-up.
        others = sorted(
            (t for t, i in self.issued.items() if (i.tool, i.target) != (tool, target)),
            key=lambda t: self.issued[t].tool != tool,
        )
        if kind == "genuine" and mine:
            return mine[-1]  # what the last preview of this target issued
        if kind == "other" and others:
            return data.draw(st.sampled_from(others), label="token of another call")
        if kind == "replayed" and self.presented:
            spent_here = [t for t in self.presented if t in self.spent and t in mine]
            return data.draw(st.sampled_from(spent_here or self.presented), label="token presented before")
        if kind == "tampered" and self.issued:
            how = data.draw(st.sampled_from(TAMPERING), label="tampering")
            # Retarget another call's token; alter this call's own in the other ways.
            pool = (others if how == "retarget" else mine) or list(self.issued)
            token = data.draw(st.sampled_from(pool), label="token to tamper with")
            donor = data.draw(st.sampled_from(list(self.issued)), label="signature donor")
            return tamper(token, donor, tool, target, how)
        if kind == "forged":
            return forge(tool, target, self.issued[mine[-1]].facts if mine else {"summary": "approved"})
        if kind == "garbage":
            return data.draw(st.text(min_size=1, max_size=80), label="garbage token")
        return None

    def live_targets(self, tool: str) -> list[tuple[dict[str, Any], str]]:
        """Targets the tool could act on right now, with the arguments that would make it act."""
        store = self.state.store
        if tool == "finalize_order":
            return [
                ({"order_id": o.id}, o.id) for o in store.orders
                if o.status == "draft" and o.customer.default_payment_method_id
                and store.payment_methods[o.customer.default_payment_method_id].outcome == "succeeds"
            ]  # fmt: skip
        if tool == "generate_invoice":
            return [
                ({"order_id": o.id}, o.id) for o in store.orders
                if o.status in ("pending", "paid", "refunded", "partially_refunded") and not o.is_invoice_generated
                and o.billing_name and o.billing_address
            ]  # fmt: skip
        return [
            ({"client_secret": c.client_secret, "payment_token": "tok_visa"}, c.id) for c in store.checkouts.values()
            if c.status == "open" and c.customer_email and c.customer_billing_address
        ]  # fmt: skip

    # The rules.

    @rule(data=st.data())
    def finalize_order(self, data: st.DataObject) -> None:
        self.irreversible(data, "finalize_order")

    @rule(data=st.data())
    def generate_invoice(self, data: st.DataObject) -> None:
        self.irreversible(data, "generate_invoice")

    @rule(data=st.data())
    def confirm_checkout(self, data: st.DataObject) -> None:
        self.irreversible(data, "confirm_checkout")

    def irreversible(self, data: st.DataObject, tool: str) -> None:
        args, target = self.target_args(data, tool)
        token = self.token_for(data, tool, target)
        args |= data.draw(st.sampled_from(SMUGGLED), label="smuggled arguments")
        self.step(data, tool, args, token=token, target=target)

    @precondition(lambda self: any(t not in self.spent for t in self.issued))
    @rule(data=st.data())
    def approved_preview_comes_back(self, data: st.DataObject) -> None:
        """The usual happy path: a person approved a preview, and its token comes back with the same arguments."""
        token = data.draw(st.sampled_from([t for t in self.issued if t not in self.spent]), label="approved token")
        issued = self.issued[token]
        self.step(data, issued.tool, dict(issued.args), token=token, target=issued.target)

    @precondition(lambda self: bool(self.spent))
    @rule(data=st.data())
    def spent_token_comes_back(self, data: st.DataObject) -> None:
        """A retry after a failure, with the token the failed call already used up."""
        token = data.draw(st.sampled_from(list(self.spent)), label="spent token")
        issued = self.issued[token]
        self.step(data, issued.tool, dict(issued.args), token=token, target=issued.target)

    @precondition(lambda self: self.mode != "elicit")
    @rule(data=st.data(), tool=st.sampled_from(IRREVERSIBLE))
    def wrong_token_on_a_live_target(self, data: st.DataObject, tool: str) -> None:
        """The attack that matters: a target that would act at once, and a token that must not let it."""
        live = self.live_targets(tool)
        if not live:
            return
        args, target = data.draw(st.sampled_from(live), label="live target")
        if not any((i.tool, i.target) == (tool, target) for i in self.issued.values()):
            self.step(data, tool, dict(args), target=target, asks=False)  # learn the facts a forger would copy
        token = self.token_for(data, tool, target, BAD_TOKEN_KINDS)
        self.step(data, tool, dict(args), token=token, target=target, asks=False)

    @precondition(lambda self: self.mode != "elicit")
    @rule(data=st.data(), tool=st.sampled_from(IRREVERSIBLE), kind=st.sampled_from(["status", "drop_before"]))
    def an_approved_call_fails_and_is_retried(self, data: st.DataObject, tool: str, kind: str) -> None:
        """Polar fails the approved act without acting; the retry brings the token it already used up."""
        live = self.live_targets(tool)
        if not live:
            return
        args, target = data.draw(st.sampled_from(live), label="live target")
        preview = self.step(data, tool, dict(args), target=target, asks=False)
        if token := (preview.structured_content or {}).get("confirmation_token"):
            self.polar_fails_the_next_act(tool, kind)
            self.step(data, tool, dict(args), token=token, target=target, asks=False)
            self.step(data, tool, dict(args), token=token, target=target, asks=False)

    @rule(data=st.data(), tool=st.sampled_from(IRREVERSIBLE))
    def a_person_approves_a_live_target(self, data: st.DataObject, tool: str) -> None:
        """The happy path, so that every run also shows confirmations that do let things happen."""
        live = self.live_targets(tool)
        if not live:
            return
        args, target = data.draw(st.sampled_from(live), label="live target")
        if self.mode == "elicit" or (self.mode == "auto" and data.draw(st.booleans(), label="ask in the client")):
            self.step(data, tool, dict(args), target=target, asks=True, answer="approve")
            return
        preview = self.step(data, tool, dict(args), target=target, asks=False)
        if token := (preview.structured_content or {}).get("confirmation_token"):
            self.step(data, tool, dict(args), token=token, target=target, asks=False)

    @rule(tool=st.sampled_from(IRREVERSIBLE), kind=st.sampled_from(FAULTS))
    def polar_fails_the_next_act(self, tool: str, kind: str) -> None:
        """Polar answers the next act of this kind with an error or hangs up, before or after acting."""
        path = ACT_PATHS[tool].format("{id}")
        self.state.faults.add(kind, path, method="POST")  # type: ignore[arg-type]

    @rule(data=st.data())
    def write_call(self, data: st.DataObject) -> None:
        tool = data.draw(st.sampled_from(sorted(WRITES)), label="write tool")
        result = self.step(data, tool, WRITES[tool](self, data))
        content = result.structured_content or {}
        if not result.is_error and tool == "create_order":
            self.drafts.append(content["id"])
        if not result.is_error and tool == "create_checkout":
            self.checkout_ids.append(content["id"])
            self.secrets.append(content["client_secret"])

    @rule(data=st.data())
    def read_call(self, data: st.DataObject) -> None:
        tool = data.draw(st.sampled_from(sorted(READS)), label="read tool")
        self.step(data, tool, READS[tool](self, data))

    @invariant()
    def everything_since_the_start_was_confirmed(self) -> None:
        unconfirmed = effects(self.start, world(self.state)) - self.confirmed
        assert not unconfirmed, f"done without a confirmation: {sorted(unconfirmed)}"

    # One step: call, then hold every effect of the call against the confirmations of the call.

    def step(
        self, data: st.DataObject, tool: str, args: dict[str, Any], *, token: str | None = None, target: str = "",
        asks: bool | None = None, answer: str | None = None,
    ) -> types.CallToolResult:  # fmt: skip
        era = data.draw(st.sampled_from(["auto", "legacy"]), label="protocol era")
        if asks is None:
            asks = data.draw(st.sampled_from(CLIENTS[self.mode]), label="client can elicit")
        if answer is None:
            answer = data.draw(st.sampled_from(ANSWERS), label="answer") if asks else "approve"
        self.human.answer = answer
        self.human.asked.clear()
        self.state.faults.journal.clear()
        if token is not None:
            args["confirmation_token"] = token
        before = world(self.state)
        genuine = token is not None and token not in self.spent and self.issued_for(token) == (tool, target)
        result = self.call(era, asks, tool, args)
        after = world(self.state)

        token_path = self.mode == "token" or (self.mode == "auto" and not asks)
        if token_path or tool not in QUESTIONS:
            assert not self.human.asked, f"{tool} asked a person although it may not: {self.human.asked}"
        allowed = ({(tool, target)} if genuine and token_path else set()) | self.human.approved()
        happened = effects(before, after)
        assert happened <= allowed, (
            f"{tool}({args}) did {sorted(happened - allowed)} without a confirmation of it "
            f"(confirmed in this step: {sorted(allowed)}; server said: {result_text(result)[:300]})"
        )
        if happened:
            self.check_facts(result, token if genuine and token_path else None)
        self.confirmed |= allowed
        EFFECTS.update(t for t, _ in happened)
        self.orders += [o for o in after.orders if o not in before.orders]
        self.remember(tool, args, result, target, token, token_path)
        return result

    def check_facts(self, result: types.CallToolResult, token: str | None) -> None:
        """What was done is what was approved: the token's previewed facts, or the question the person saw.
        A call that failed after Polar acted must not claim that nothing was done."""
        if result.is_error:
            text = result_text(result)
            assert not any(claim in text for claim in NOTHING_DONE), f"an effect, yet the agent was told: {text}"
            return
        done = (result.structured_content or {}).get("preview")
        assert done is not None, f"an effect without a preview of it: {result_text(result)[:300]}"
        if token is not None:
            approved = self.issued[token].facts
            assert done == approved, f"acted on {done}, but the approved preview was {approved}"
        else:
            shown = [message.splitlines()[0] for message in self.human.asked]
            assert done["summary"] in shown, f"acted on {done['summary']!r}, but the person was asked {shown}"

    def issued_for(self, token: str) -> Pair | None:
        issued = self.issued.get(token)
        return (issued.tool, issued.target) if issued else None

    def call(self, era: str, asks: bool, tool: str, args: dict[str, Any]) -> types.CallToolResult:
        client = self.clients[(era, asks)]

        async def bounded() -> types.CallToolResult:
            with anyio.fail_after(CALL_SECONDS):
                return await client.call_tool(tool, args)

        result = self.portal.call(bounded)
        assert not is_crash(result), f"{tool}({args}) crashed: {result_text(result)}"
        return result

    def acted(self, tool: str, args: dict[str, Any]) -> bool:
        """Did the call send its act to Polar? Only a redeemed token gets that far."""
        if tool not in ACT_PATHS:
            return False
        path = ACT_PATHS[tool].format(args.get("order_id") or args.get("client_secret"))
        return any(r.method == "POST" and r.path == path for r in self.state.faults.journal)

    def remember(
        self, tool: str, args: dict[str, Any], result: types.CallToolResult, target: str, token: str | None,
        token_path: bool,
    ) -> None:  # fmt: skip
        """Book the tokens a preview issued, and the ones a call used up."""
        if token is not None:
            if token not in self.presented:
                self.presented.append(token)
            if token_path and (self.acted(tool, args) or not result.is_error):
                self.spent[token] = None
        content = result.structured_content or {}
        if not result.is_error and content.get("status") == "confirmation_required":
            preview = content["preview"]
            previewed = preview.get("order_id") or preview.get("checkout_id")
            assert previewed == target, f"{tool} previewed {previewed}, asked about {target}"
            asked = {k: v for k, v in args.items() if k != "confirmation_token" and k not in SMUGGLED_KEYS}
            self.issued[content["confirmation_token"]] = Issued(tool, target, asked, preview)


Draw = Callable[[ConfirmationMachine, st.DataObject], dict[str, Any]]


def _create_order(machine: ConfirmationMachine, data: st.DataObject) -> dict[str, Any]:
    return {
        "customer_id": machine.pick(data, machine.customers, "customer_id"),
        "product_id": machine.pick(data, machine.products, "product_id"),
    }


def _update_order(machine: ConfirmationMachine, data: st.DataObject) -> dict[str, Any]:
    args: dict[str, Any] = {"order_id": machine.pick(data, machine.orders, "order_id")}
    args["billing_name"] = data.draw(st.sampled_from([None, "Ada Good", "Ada Good Ltd", "Someone Else"]))
    if data.draw(st.booleans(), label="change address"):
        args["billing_address"] = {"country": "GB", "line1": data.draw(st.sampled_from(["1 Market Street", "2 Elm"]))}
    return args


def _create_checkout(machine: ConfirmationMachine, data: st.DataObject) -> dict[str, Any]:
    args: dict[str, Any] = {"products": [machine.pick(data, machine.products, "product_id")]}
    if data.draw(st.booleans(), label="prefill customer"):
        args["customer_id"] = machine.pick(data, machine.customers, "customer_id")
    return args


def _update_checkout_by_secret(machine: ConfirmationMachine, data: st.DataObject) -> dict[str, Any]:
    change = data.draw(st.sampled_from(["email", "address", "name", "amount"]), label="change")
    return {"client_secret": machine.pick_secret(data)} | {
        "email": {"customer_email": "buyer@example.com"},
        "address": {"customer_billing_address": {
            "country": "US", "state": "US-NY", "line1": "1 Main St", "city": "New York", "postal_code": "10001"}},
        "name": {"customer_name": data.draw(st.sampled_from(["Buyer", "Another Buyer"]))},
        "amount": {"amount": data.draw(st.sampled_from([500, 2000]))},
    }[change]


WRITES: dict[str, Draw] = {
    "create_order": _create_order,
    "update_order": _update_order,
    "create_checkout": _create_checkout,
    "update_checkout": lambda m, d: {
        "checkout_id": m.pick(d, m.checkout_ids, "checkout_id"),
        "customer_name": d.draw(st.sampled_from(["Grace", "Linus"])),
    },
    "update_checkout_by_secret": _update_checkout_by_secret,
    "create_customer_session": lambda m, d: {"customer_id": m.pick(d, m.customers, "customer_id")},
}
READS: dict[str, Draw] = {
    "get_order": lambda m, d: {"order_id": m.pick(d, m.orders, "order_id")},
    "get_invoice": lambda m, d: {"order_id": m.pick(d, m.orders, "order_id")},
    "get_receipt": lambda m, d: {"order_id": m.pick(d, m.orders, "order_id")},
    "list_orders": lambda m, d: {"customer_id": m.pick(d, m.customers, "customer_id"), "limit": 5},
    "get_checkout": lambda m, d: {"checkout_id": m.pick(d, m.checkout_ids, "checkout_id")},
    "get_checkout_by_secret": lambda m, d: {"client_secret": m.pick_secret(d)},
    "list_checkouts": lambda m, d: {"status": ["open"], "limit": 5},
    "get_customer": lambda m, d: {"customer_id": m.pick(d, m.customers, "customer_id")},
}


@pytest.mark.parametrize("mode", ["auto", "token", "elicit"])
def test_nothing_irreversible_happens_without_a_confirmation_of_its_target(mode: str) -> None:
    EFFECTS.clear()
    machine = type(f"ConfirmationMachine_{mode}", (ConfirmationMachine,), {"mode": mode})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=20,
            stateful_step_count=20,
            deadline=None,
            database=None,
            derandomize=True,
            # A failing run prints its whole sequence of steps: shrinking one takes minutes.
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
    # Not vacuous: legitimate confirmations did charge, confirm and invoice along the way.
    assert EFFECTS["finalize_order"] and EFFECTS["confirm_checkout"] and EFFECTS["generate_invoice"], EFFECTS
