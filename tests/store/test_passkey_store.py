"""The store's passkeys: registered per approver, removed but kept, single-use nonces, and a passkey decision
that moves the passkey's count on and stores its proof in the decision's own transaction."""

from __future__ import annotations

from typing import Any

import pytest

from polar_orders_mcp.store.records import SCHEMA_VERSION, NotPending, Passkey, PasskeyChanged, Proven
from polar_orders_mcp.store.sql import SqlStore
from tests.store.test_sql_store import Clock, clock, execute, request, store, store_url

__all__ = ["clock", "store", "store_url"]

pytestmark = pytest.mark.anyio

SESSION = "h" * 64


def passkey(credential_id: str = "cred-1", approver: str = "ada", sign_count: int = 0) -> Passkey:
    return Passkey(credential_id, approver, "pk", sign_count, "laptop", 1_800_000_000.0)


def proven(seen: int = 0, count: int = 1, credential_id: str = "cred-1") -> Proven:
    return Proven(approve=True, credential_id=credential_id, sign_count=count, seen=seen, proof={"nonce": "n"})


async def test_an_approvers_passkeys_are_listed_and_a_removed_one_is_kept_but_not_listed(
    store: SqlStore, clock: Clock
) -> None:
    await store.add_passkey(passkey("cred-1"))
    await store.add_passkey(passkey("cred-2"))
    await store.add_passkey(passkey("cred-3", approver="bob"))
    not_hers = await store.remove_passkey("cred-3", approver="ada")
    removed = await store.remove_passkey("cred-1", approver="ada")
    again = await store.remove_passkey("cred-1", approver="ada")
    listed = [p.credential_id for p in await store.list_passkeys("ada")]
    kept = await store.get_passkey("cred-1")
    assert (not_hers, removed, again, listed) == (False, True, False, ["cred-2"])
    assert kept is not None and kept.removed_at == clock.now


async def test_a_nonce_is_good_once_for_its_session_and_purpose_until_it_expires(store: SqlStore, clock: Clock) -> None:
    first = await store.create_passkey_nonce(token_hash=SESSION, purpose="enrol", ttl=60)
    used = [await store.take_passkey_nonce(first, token_hash=SESSION, purpose="enrol") for _ in range(2)]
    other_session = await store.create_passkey_nonce(token_hash=SESSION, purpose="enrol", ttl=60)
    stolen = await store.take_passkey_nonce(other_session, token_hash="x" * 64, purpose="enrol")
    after_theft = await store.take_passkey_nonce(other_session, token_hash=SESSION, purpose="enrol")
    other_purpose = await store.create_passkey_nonce(token_hash=SESSION, purpose="decide:apr_1", ttl=60)
    wrong = await store.take_passkey_nonce(other_purpose, token_hash=SESSION, purpose="decide:apr_2")
    late = await store.create_passkey_nonce(token_hash=SESSION, purpose="enrol", ttl=60)
    clock.now += 60
    expired = await store.take_passkey_nonce(late, token_hash=SESSION, purpose="enrol")
    assert (used, stolen, after_theft, wrong, expired) == ([True, False], False, False, False, False)


async def test_a_passkey_decision_stores_its_proof_and_moves_the_count_on_once(store: SqlStore, clock: Clock) -> None:
    await store.create_console_session(token_hash=SESSION, approver="ada", csrf="c", ttl=600)
    await store.add_passkey(passkey())
    made = await store.create_approval(request())
    nonce = await store.create_passkey_nonce(token_hash=SESSION, purpose=f"decide:{made.id}", ttl=60)
    seen: list[Any] = []

    def judge(session: Any, approval: Any, key: Any, fresh: bool) -> Proven:
        seen.append((session.approver, approval.id, key.credential_id, fresh))
        return proven()

    _, decided = await store.decide_with_passkey(
        SESSION, made.id, credential_id="cred-1", nonce=nonce, judge=judge, redeem_window=300
    )
    key = await store.get_passkey("cred-1")
    assert seen == [("ada", made.id, "cred-1", True)]
    assert decided is not None
    assert (decided.state, decided.decided_by, decided.proof) == ("approved", "ada", {"nonce": "n"})
    assert await store.get_approval(made.id) == decided
    assert key is not None and (key.sign_count, key.last_used_at) == (1, clock.now)


async def test_a_passkey_decision_is_refused_unless_its_passkey_is_the_approvers_unremoved_at_the_count_read(
    store: SqlStore,
) -> None:
    await store.create_console_session(token_hash=SESSION, approver="ada", csrf="c", ttl=600)
    await store.add_passkey(passkey(sign_count=5))
    await store.add_passkey(passkey("cred-2"))
    await store.remove_passkey("cred-2", approver="ada")
    await store.add_passkey(passkey("cred-3", approver="bob"))
    made = await store.create_approval(request())
    for stale in (proven(seen=4, count=6), proven(credential_id="cred-2"), proven(credential_id="cred-3")):
        nonce = await store.create_passkey_nonce(token_hash=SESSION, purpose=f"decide:{made.id}", ttl=60)
        with pytest.raises(PasskeyChanged):
            await store.decide_with_passkey(
                SESSION,
                made.id,
                credential_id=stale.credential_id,
                nonce=nonce,
                judge=lambda *_, p=stale: p,
                redeem_window=300,  # type: ignore[misc]
            )
    assert (await store.get_approval(made.id)).state == "pending"  # type: ignore[union-attr]


async def test_a_passkey_decision_judged_nothing_uses_the_nonce_up_and_decides_nothing(store: SqlStore) -> None:
    await store.create_console_session(token_hash=SESSION, approver="ada", csrf="c", ttl=600)
    made = await store.create_approval(request())
    nonce = await store.create_passkey_nonce(token_hash=SESSION, purpose=f"decide:{made.id}", ttl=60)
    fresh: list[tuple[bool, Any]] = []

    def judge(session: Any, approval: Any, key: Any, is_fresh: bool) -> None:
        fresh.append((is_fresh, key))

    for _ in range(2):
        await store.decide_with_passkey(
            SESSION, made.id, credential_id="unknown", nonce=nonce, judge=judge, redeem_window=300
        )
    assert fresh == [(True, None), (False, None)]
    await store.decide(made.id, approve=False, by="bob", redeem_window=300)
    late = await store.create_passkey_nonce(token_hash=SESSION, purpose=f"decide:{made.id}", ttl=60)
    await store.add_passkey(passkey())
    with pytest.raises(NotPending):
        await store.decide_with_passkey(
            SESSION, made.id, credential_id="cred-1", nonce=late, judge=lambda *_: proven(), redeem_window=300
        )
    assert (await store.get_passkey("cred-1")).sign_count == 0  # type: ignore[union-attr]


async def test_a_database_of_schema_3_gains_the_passkeys_and_the_proof_column(store_url: str) -> None:
    first = SqlStore(store_url)
    kept = await first.create_approval(request())
    await first.close()
    await execute(
        store_url,
        "UPDATE pom_meta SET value = '3' WHERE key = 'schema_version'",
        "ALTER TABLE pom_approvals DROP COLUMN proof",
        "DROP TABLE pom_passkeys",
        "DROP TABLE pom_passkey_nonces",
    )
    upgraded = SqlStore(store_url)
    try:
        await upgraded.open()
        await upgraded.create_console_session(token_hash=SESSION, approver="ada", csrf="c", ttl=600)
        await upgraded.add_passkey(passkey())
        nonce = await upgraded.create_passkey_nonce(token_hash=SESSION, purpose=f"decide:{kept.id}", ttl=60)
        _, decided = await upgraded.decide_with_passkey(
            SESSION, kept.id, credential_id="cred-1", nonce=nonce, judge=lambda *_: proven(), redeem_window=300
        )
    finally:
        await upgraded.close()
    assert kept.proof is None and decided is not None and decided.proof == {"nonce": "n"}
    version = await execute(store_url, "SELECT value FROM pom_meta WHERE key = 'schema_version'")
    assert version == [[(str(SCHEMA_VERSION),)]]


async def test_the_store_adds_an_approvers_first_passkey_only_and_more_after_a_reset(
    store: SqlStore, clock: Clock
) -> None:
    """Checked again under the store's lock: two enrolments racing past the console's own check add one."""
    added = {"event": "passkey_added"}
    clock.now += 1
    assert await store.enrol_passkey(passkey("cred-1"), audit=added) == "added"
    assert await store.enrol_passkey(passkey("cred-2"), audit=added) == "has_one"
    assert await store.remove_passkey("cred-1", approver="ada")
    assert await store.enrol_passkey(passkey("cred-3"), audit=added) == "had_one"  # removed, not reset
    await store.reset_passkeys("ada", audit=lambda _: {"event": "passkeys_reset"})
    clock.now += 1
    later = Passkey("cred-4", "ada", "pk", 0, "phone", clock.now)
    assert await store.enrol_passkey(later, audit=added) == "added"
    assert [p.credential_id for p in await store.list_passkeys("ada")] == ["cred-4"]
