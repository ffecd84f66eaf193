"""Confirmation tokens: signed, bound to tool, target and facts, expiring, single-use."""

from __future__ import annotations

import pytest

from polar_orders_mcp.tools.guard import ConfirmationRefused, ConfirmationTokens

FACTS = {"amount": 1250, "currency": "usd", "customer_id": "c1", "payment_method_id": "pm1"}


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tokens(clock: Clock) -> ConfirmationTokens:
    return ConfirmationTokens(secret=b"s" * 32, ttl=300, clock=clock)


def test_a_token_is_accepted_once(tokens: ConfirmationTokens) -> None:
    issued = tokens.issue(tool="finalize_order", target="o1", facts=FACTS)
    tokens.redeem(issued.token, tool="finalize_order", target="o1", facts=FACTS)
    with pytest.raises(ConfirmationRefused, match="already used"):
        tokens.redeem(issued.token, tool="finalize_order", target="o1", facts=FACTS)


def test_an_expired_token_is_refused(tokens: ConfirmationTokens, clock: Clock) -> None:
    issued = tokens.issue(tool="finalize_order", target="o1", facts=FACTS)
    clock.now += 301
    with pytest.raises(ConfirmationRefused, match="expired"):
        tokens.redeem(issued.token, tool="finalize_order", target="o1", facts=FACTS)


def test_a_token_for_another_target_or_tool_is_refused(tokens: ConfirmationTokens) -> None:
    issued = tokens.issue(tool="finalize_order", target="o1", facts=FACTS)
    with pytest.raises(ConfirmationRefused, match="issued for another call"):
        tokens.redeem(issued.token, tool="finalize_order", target="o2", facts=FACTS)
    with pytest.raises(ConfirmationRefused, match="issued for another call"):
        tokens.redeem(issued.token, tool="generate_invoice", target="o1", facts=FACTS)


def test_changed_facts_are_refused(tokens: ConfirmationTokens) -> None:
    issued = tokens.issue(tool="finalize_order", target="o1", facts=FACTS)
    with pytest.raises(ConfirmationRefused, match="changed after the preview"):
        tokens.redeem(issued.token, tool="finalize_order", target="o1", facts={**FACTS, "amount": 99999})


@pytest.mark.parametrize("mangle", [
    lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),
    lambda t: t.replace("pc1.", "pc2."),
    lambda t: "garbage",
    lambda t: t.split(".")[0] + "." + t.split(".")[1][::-1] + "." + t.split(".")[2],
])  # fmt: skip
def test_a_tampered_token_is_refused(tokens: ConfirmationTokens, mangle: object) -> None:
    issued = tokens.issue(tool="finalize_order", target="o1", facts=FACTS)
    with pytest.raises(ConfirmationRefused):
        tokens.redeem(mangle(issued.token), tool="finalize_order", target="o1", facts=FACTS)  # type: ignore[operator]


def test_a_token_from_another_secret_is_refused(tokens: ConfirmationTokens, clock: Clock) -> None:
    other = ConfirmationTokens(secret=b"t" * 32, ttl=300, clock=clock)
    issued = other.issue(tool="finalize_order", target="o1", facts=FACTS)
    with pytest.raises(ConfirmationRefused, match="not valid"):
        tokens.redeem(issued.token, tool="finalize_order", target="o1", facts=FACTS)


def test_replicas_sharing_a_secret_accept_each_others_tokens(clock: Clock) -> None:
    one = ConfirmationTokens(secret=b"shared" * 6, clock=clock)
    two = ConfirmationTokens(secret=b"shared" * 6, clock=clock)
    issued = one.issue(tool="finalize_order", target="o1", facts=FACTS)
    two.redeem(issued.token, tool="finalize_order", target="o1", facts=FACTS)
