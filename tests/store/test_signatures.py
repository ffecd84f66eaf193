"""The signing key in the store: each decision and each audit record signed in the transaction that writes
it, and a chain rewritten by someone who can write the database found by its signatures (both backends)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from polar_orders_mcp.audit_check import check_chain
from polar_orders_mcp.signing import SigningKey
from polar_orders_mcp.store import signed
from polar_orders_mcp.store.records import GENESIS, chain_hash
from polar_orders_mcp.store.sql import SqlStore
from tests.store.test_sql_store import Clock, clock, execute, request, store_url

pytestmark = pytest.mark.anyio
__all__ = ["clock", "store_url"]  # the fixtures of the store tests: every test here runs on both backends

KEY = SigningKey.generate()
OTHER = SigningKey.generate()


@pytest.fixture
async def store(store_url: str, clock: Clock) -> Any:
    opened = SqlStore(store_url, clock=clock, signer=KEY)
    yield opened
    await opened.close()


async def chain(store: SqlStore) -> tuple[int, str | None]:
    return check_chain(await store.audit_records(), await store.signed_head(), [KEY.public])


async def rewrite(url: str, seq: int, change: dict[str, Any]) -> None:
    """Change one record and recompute every hash after it, as someone who can write the database can."""
    [rows] = await execute(url, "SELECT seq, entry FROM pom_audit ORDER BY seq")
    prev, statements = GENESIS, []
    for number, text in rows:
        entry = json.loads(text)
        if number == seq:
            entry.update(change)
        digest = chain_hash(prev, number, entry)
        quoted = json.dumps(entry, sort_keys=True).replace("'", "''")
        statements.append(
            f"UPDATE pom_audit SET prev_hash = '{prev}', hash = '{digest}', entry = '{quoted}' WHERE seq = {number}"
        )
        prev = digest
    await execute(url, *statements, f"UPDATE pom_audit_head SET hash = '{prev}' WHERE id = 1")


async def test_each_decision_is_signed_as_it_is_recorded(store: SqlStore) -> None:
    approved = await store.decide(
        (await store.create_approval(request("a"))).id, approve=True, by="ada", redeem_window=300
    )
    denied = await store.decide(
        (await store.create_approval(request("b"))).id, approve=False, by="bob", redeem_window=300
    )
    for decided, decision in ((approved, "approved"), (denied, "denied")):
        assert decided.signature is not None
        claims = KEY.public.verify(decided.signature, signed.DECISION)
        assert claims == signed.decision_claims(decided)
        assert claims["decision"] == decision and claims["digest"] == decided.digest
        assert (await store.get_approval(decided.id)) == decided  # kept in the store, as made


async def test_a_decision_signed_stays_valid_once_used(store: SqlStore) -> None:
    approval = await store.create_approval(request())
    decided = await store.decide(approval.id, approve=True, by="ada", redeem_window=300)
    used = await store.redeem(approval.id, digest=approval.digest)
    assert signed.matches([KEY.public], used.signature, signed.DECISION, signed.decision_claims(used)) is None
    assert used.signature == decided.signature


async def test_a_decision_changed_in_the_database_no_longer_matches_its_signature(
    store: SqlStore, store_url: str
) -> None:
    approval = await store.create_approval(request())
    await store.decide(approval.id, approve=False, by="ada", redeem_window=300)
    await execute(store_url, f"UPDATE pom_approvals SET state = 'approved' WHERE id = '{approval.id}'")
    forged = await store.get_approval(approval.id)
    assert forged is not None
    assert signed.matches([KEY.public], forged.signature, signed.DECISION, signed.decision_claims(forged)) == (
        "its signature does not match it (signed with other decision)"
    )


async def test_every_append_signs_its_record_and_the_head(store: SqlStore) -> None:
    heads = []
    for n in range(3):
        await store.append_audit({"n": n})
        heads.append(await store.signed_head())
    assert await chain(store) == (3, None)
    assert [h.seq for h in heads] == [1, 2, 3] and len({h.signature for h in heads}) == 3
    assert KEY.public.verify(heads[-1].signature or "", signed.HEAD) == {"seq": 3, "hash": heads[-1].hash}


async def test_a_chain_rewritten_with_every_hash_recomputed_is_found(store: SqlStore, store_url: str) -> None:
    for n in range(3):
        await store.append_audit({"approver": "ada", "n": n})
    await rewrite(store_url, 2, {"approver": "mallory"})
    checked, problem = await chain(store)
    assert checked == 1 and problem is not None
    assert problem.startswith("record 2 was rewritten: its signature does not match it (signed with other hash)")


async def test_a_rewritten_chain_without_its_signatures_is_found_by_the_head(store: SqlStore, store_url: str) -> None:
    for n in range(3):
        await store.append_audit({"n": n})
    await rewrite(store_url, 1, {"n": 7})
    await execute(store_url, "UPDATE pom_audit SET signature = NULL")
    assert (await chain(store))[1] == (
        "the chain's head (record 3) was rewritten: its signature does not match it (signed with other hash) "
        "(someone who could write the database changed it and recomputed the hashes; what the key signed is not "
        "what is there now)"
    )
    await execute(store_url, "UPDATE pom_audit_head SET signature = NULL")
    assert (await chain(store))[1] == (
        "the chain's head (record 3) is not signed: no server that signs has written to this store since, or its "
        "signature was removed"
    )


async def test_a_signature_removed_after_signed_records_is_found(store: SqlStore, store_url: str) -> None:
    for n in range(3):
        await store.append_audit({"n": n})
    await execute(store_url, "UPDATE pom_audit SET signature = NULL WHERE seq = 2")
    assert (await chain(store))[1] == (
        "record 2 is not signed, though the records before it are: its signature was removed"
    )


async def test_a_tail_cut_with_the_head_set_back_is_found(store: SqlStore, store_url: str) -> None:
    for n in range(3):
        await store.append_audit({"n": n})
    [[(digest, signature)]] = await execute(store_url, "SELECT hash, signature FROM pom_audit WHERE seq = 2")
    # The record's own signature put on the head: the head's signature is of another kind, so it is refused.
    set_back = f"UPDATE pom_audit_head SET seq = 2, hash = '{digest}', signature = '{signature}' WHERE id = 1"
    await execute(store_url, "DELETE FROM pom_audit WHERE seq = 3", set_back)
    problem = (await chain(store))[1]
    assert problem is not None and problem.startswith(
        "the chain's head (record 2) was rewritten: it is a 'pom-audit-record+jws', not a 'pom-audit-head+jws'"
    )


async def test_records_signed_by_another_key_are_named(store_url: str, clock: Clock) -> None:
    other = SqlStore(store_url, clock=clock, signer=OTHER)
    try:
        await other.append_audit({"n": 1})
        records, head = await other.audit_records(), await other.signed_head()
    finally:
        await other.close()
    checked, problem = check_chain(records, head, [KEY.public])
    assert checked == 0 and problem == (
        f"record 1 is not signed by the key given: it was signed by another key (key id {OTHER.kid}) (pass that "
        "key's public half too)"
    )
    assert check_chain(records, head, [KEY.public, OTHER.public]) == (1, None)


async def test_an_unsigned_chain_upgraded_to_schema_4_is_signed_from_its_head_on(store_url: str, clock: Clock) -> None:
    old = SqlStore(store_url, clock=clock)  # a store as written before signatures: nothing signed
    try:
        for n in range(2):
            await old.append_audit({"n": n})
    finally:
        await old.close()
    await execute(
        store_url,
        "UPDATE pom_meta SET value = '3' WHERE key = 'schema_version'",
        "UPDATE pom_audit_head SET signature = NULL",
    )
    upgraded = SqlStore(store_url, clock=clock, signer=KEY)
    try:
        await upgraded.open()
        assert await chain(upgraded) == (2, None)  # the head as the upgrade found it, signed
        await upgraded.append_audit({"n": 2})
        assert await chain(upgraded) == (3, None)
        await rewrite(store_url, 1, {"n": 9})  # an unsigned record rewritten: the signed ones after it say so
        assert (await chain(upgraded))[1] == (
            "record 3 was rewritten: its signature does not match it (signed with other hash) (someone who could "
            "write the database changed it and recomputed the hashes; what the key signed is not what is there now)"
        )
    finally:
        await upgraded.close()


async def test_a_decision_with_a_proof_signs_it(store: SqlStore, store_url: str) -> None:
    approval = await store.create_approval(request())
    assertion = {"type": "webauthn.get", "credential_id": "abc", "signature": "c2ln"}
    await execute(store_url, f"UPDATE pom_approvals SET proof = '{json.dumps(assertion)}' WHERE id = '{approval.id}'")
    decided = await store.decide(approval.id, approve=True, by="ada", redeem_window=300)
    assert decided.proof == assertion
    assert KEY.public.verify(decided.signature or "", signed.DECISION)["proof"] == assertion
    assert signed.decision_claims(replace(decided, proof=None)) != signed.decision_claims(decided)
