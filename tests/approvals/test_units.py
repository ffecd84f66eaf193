"""The guard's small parts, tested directly: relay tokens, previews, limits' refusals, the audit's hashing."""

from __future__ import annotations

import dataclasses

import pytest

from polar_orders_mcp.approvals.policy import ConfirmationRefused, RelayTokens, limit_message
from polar_orders_mcp.approvals.preview import Preview, changed_facts, digest
from polar_orders_mcp.store.records import Approval, chain_hash


def approval(**changes: object) -> Approval:
    base = Approval(
        id="apr_AAAAAAAAAAAAAAAAAAAAAAAA",
        tool="finalize_order",
        target="order-1",
        digest="d" * 64,
        facts={},
        summary="s",
        message="m",
        display=[],
        amount=1500,
        currency="usd",
        client="stdio",
        session=None,
        channel="relay",
        state="pending",
        created_at=0.0,
        expires_at=900.0,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


TOKENS = RelayTokens(b"k" * 32)


def test_a_relay_token_verifies_for_the_approval_it_was_issued_for() -> None:
    TOKENS.check(TOKENS.issue(approval()), approval())


@pytest.mark.parametrize(
    "other",
    [
        {"digest": "e" * 64},
        {"target": "order-2"},
        {"tool": "create_refund"},
        {"id": "apr_BBBBBBBBBBBBBBBBBBBBBBBB"},
    ],
)
def test_the_signature_covers_the_id_the_tool_the_target_and_the_facts(other: dict[str, str]) -> None:
    token = TOKENS.issue(approval())
    with pytest.raises(ConfirmationRefused, match="not valid: it was altered or not issued here"):
        TOKENS.check(token, approval(**other))


def test_a_token_relabelled_with_another_approvals_id_is_refused() -> None:
    mine, theirs = approval(), approval(id="apr_BBBBBBBBBBBBBBBBBBBBBBBB", target="order-2")
    signature = TOKENS.issue(mine).split(".")[2]
    with pytest.raises(ConfirmationRefused, match="not valid"):
        TOKENS.check(f"pr1.{theirs.id}.{signature}", theirs)


def test_a_token_of_another_key_is_refused() -> None:
    with pytest.raises(ConfirmationRefused, match="not valid"):
        TOKENS.check(RelayTokens(b"x" * 32).issue(approval()), approval())


@pytest.mark.parametrize("text", ["pr1.apr_AAAA.é" + "0" * 42, "pr1.apr_AAAA." + "\u0000" * 43, "pr1.apr_AAAA.ÿ"])
def test_odd_characters_are_refused_not_a_crash(text: str) -> None:
    with pytest.raises(ConfirmationRefused, match="not valid"):
        TOKENS.check(text, approval())


@pytest.mark.parametrize("text", ["", "pr1", "pr2.apr_AAAA.x", "pr1.notanid.x", "pr1.apr_A.b.c"])
def test_malformed_tokens_say_to_pass_it_back_as_given(text: str) -> None:
    with pytest.raises(ConfirmationRefused, match="malformed: pass it back exactly as it was given"):
        TOKENS.approval_id(text)


class Charge(Preview):
    order_id: str
    amount: int
    currency: str
    amount_display: str
    customer_id: str
    customer_email: str | None
    note: str | None = None

    SHOWN = (
        ("amount_display", "Amount", "amount"),
        ("customer_email", "Customer email", "customer"),
        ("note", "Note", "warning"),
    )


PREVIEW = Charge(
    summary="Charge $15.00 to a@example.com for order o-1",
    order_id="o-1",
    amount=1500,
    currency="USD",
    amount_display="$15.00",
    customer_id="c-1",
    customer_email="a@example.com",
)


def test_a_preview_shows_people_its_facts_in_words_without_ids_or_empty_lines() -> None:
    assert PREVIEW.message() == (
        "Charge $15.00 to a@example.com for order o-1\n\nAmount: $15.00\n"
        "Customer email: a@example.com  (as the customer entered it)\n\n"
        "Approve only if this is exactly what you want. It cannot be undone."
    )
    assert PREVIEW.rows() == [("Amount", "$15.00", "amount"), ("Customer email", "a@example.com", "customer")]


def test_a_preview_knows_the_money_it_moves_and_its_fingerprint_covers_every_fact() -> None:
    assert PREVIEW.money() == (1500, "usd")
    assert PREVIEW.digest() == digest(PREVIEW.facts())
    assert PREVIEW.model_copy(update={"customer_id": "c-2"}).digest() != PREVIEW.digest()  # a fact no one reads, too
    assert changed_facts(PREVIEW.facts(), {**PREVIEW.facts(), "amount": 1600}) == ["amount: 1500 → 1600"]


def test_limit_refusals_say_which_limit_what_is_left_and_who_can_raise_it() -> None:
    assert limit_message("Order o was not charged", "daily", "eur", 10_000, 9_000, 2_500) == (
        "Order o was not charged: €25.00 would take the money moved in EUR in the last 24 hours to €115.00, over "
        "this server's limit of €100.00 (--max-daily); €10.00 is left until earlier moves are 24 hours old. A "
        "person can do it in Polar's dashboard, or the operator who runs this server can raise --max-daily."
    )


def test_an_audit_hash_covers_the_previous_hash_the_position_and_the_entry() -> None:
    first = chain_hash("0" * 64, 1, {"tool": "finalize_order"})
    assert first != chain_hash("1" * 64, 1, {"tool": "finalize_order"})
    assert first != chain_hash("0" * 64, 2, {"tool": "finalize_order"})
    assert first != chain_hash("0" * 64, 1, {"tool": "create_refund"})
    assert first == chain_hash("0" * 64, 1, {"tool": "finalize_order"})
