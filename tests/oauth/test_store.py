"""The authorization server's store on both databases: codes and refresh tokens used once, even when raced."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest
import sqlalchemy as sa

from polar_orders_mcp.store.oauth import CodeGrant, Issued, OAuthStore, digest
from polar_orders_mcp.store.sql import SqlStore
from tests.store.test_sql_store import Clock, clock, store_url

__all__ = ["clock", "store_url"]  # the store tests' fixtures: SQLite and PostgreSQL

pytestmark = pytest.mark.anyio


@pytest.fixture
async def oauth(store_url: str, clock: Clock) -> AsyncIterator[OAuthStore]:
    store = SqlStore(store_url, clock=clock)
    yield OAuthStore(store, access_ttl=3600, refresh_ttl=86_400)
    await store.close()


async def issued(oauth: OAuthStore, scopes: tuple[str, ...] = ("polar:read", "polar:write")) -> Issued:
    grant = CodeGrant(
        "desk", "ada", scopes, "c" * 43, "http://127.0.0.1/cb", True, "http://x/mcp", oauth.now() + 60, used=False
    )
    tokens = await oauth.exchange_code(await oauth.create_code(grant), "desk")
    assert tokens is not None
    return tokens


async def test_only_hashes_of_codes_and_tokens_are_kept(oauth: OAuthStore) -> None:
    tokens = await issued(oauth)
    record = await oauth.token(tokens.access)
    assert record is not None and record.kind == "access" and record.person == "ada"
    async with oauth._tx(write=False) as conn:
        kept = (await conn.execute(sa.text("SELECT token_hash FROM pom_oauth_tokens"))).scalars().all()
    assert sorted(kept) == sorted([digest(tokens.access), digest(tokens.refresh)])


async def test_of_two_concurrent_refreshes_with_one_token_exactly_one_succeeds(oauth: OAuthStore) -> None:
    tokens = await issued(oauth)
    outcomes: list[Issued | None] = []

    async def refresh() -> None:
        outcomes.append(await oauth.refresh(tokens.refresh, "desk", ("polar:read",)))

    async with anyio.create_task_group() as group:
        for _ in range(2):
            group.start_soon(refresh)
    assert sum(o is not None for o in outcomes) == 1
    # The loser's reuse cannot be told from a thief's: the family, the winner's new tokens too, is revoked.
    winner = next(o for o in outcomes if o is not None)
    assert (await oauth.token(winner.access)).revoked_at is not None  # type: ignore[union-attr]


async def test_of_many_concurrent_exchanges_of_one_code_exactly_one_succeeds(oauth: OAuthStore) -> None:
    grant = CodeGrant(
        "desk", "ada", ("polar:read",), "c" * 43, "http://127.0.0.1/cb", True, None, oauth.now() + 60, used=False
    )
    code = await oauth.create_code(grant)
    outcomes: list[Issued | None] = []

    async def exchange() -> None:
        outcomes.append(await oauth.exchange_code(code, "desk"))

    async with anyio.create_task_group() as group:
        for _ in range(10):
            group.start_soon(exchange)
    assert sum(o is not None for o in outcomes) == 1


async def test_a_refresh_keeps_the_grant_and_narrows_only_the_access_token(oauth: OAuthStore) -> None:
    tokens = await issued(oauth)
    narrower = await oauth.refresh(tokens.refresh, "desk", ("polar:read",))
    assert narrower is not None and narrower.scopes == ("polar:read",)
    assert (await oauth.token(narrower.refresh)).scopes == ("polar:read", "polar:write")  # type: ignore[union-attr]
    assert await oauth.refresh(narrower.refresh, "desk", ("polar:money",)) is None


async def test_a_refresh_token_of_another_client_or_expired_gives_nothing(oauth: OAuthStore, clock: Clock) -> None:
    tokens = await issued(oauth)
    assert await oauth.refresh(tokens.refresh, "other", ()) is None
    clock.now += 86_400
    assert await oauth.refresh(tokens.refresh, "desk", ()) is None


async def test_an_expired_code_gives_nothing(oauth: OAuthStore, clock: Clock) -> None:
    grant = CodeGrant(
        "desk", "ada", ("polar:read",), "c" * 43, "http://127.0.0.1/cb", True, None, oauth.now() + 60, used=False
    )
    code = await oauth.create_code(grant)
    clock.now += 60
    assert await oauth.exchange_code(code, "desk") is None


async def test_revoking_a_refresh_token_revokes_its_whole_family_only(oauth: OAuthStore) -> None:
    first, other = await issued(oauth), await issued(oauth)
    second = await oauth.refresh(first.refresh, "desk", ())
    assert second is not None
    await oauth.revoke(second.refresh)
    for token in (first.access, second.access, second.refresh):
        assert (await oauth.token(token)).revoked_at is not None  # type: ignore[union-attr]
    assert (await oauth.token(other.access)).revoked_at is None  # type: ignore[union-attr]


async def test_a_pending_request_is_taken_once_by_the_browser_that_signed_in(oauth: OAuthStore) -> None:
    request_id = await oauth.create_request("desk", {"state": "s"}, ttl=600)
    assert await oauth.take_request(request_id, browser_hash="b" * 64) is None  # nobody signed in yet
    assert await oauth.sign_in(request_id, person="ada", browser_hash="b" * 64, csrf="x")
    assert await oauth.take_request(request_id, browser_hash="c" * 64) is None
    taken = await oauth.take_request(request_id, browser_hash="b" * 64)
    assert taken is not None and taken.person == "ada" and taken.params == {"state": "s"}
    assert await oauth.take_request(request_id, browser_hash="b" * 64) is None


async def test_a_metadata_document_is_replaced_when_fetched_again(oauth: OAuthStore) -> None:
    url = "https://desk.example/client.json"
    await oauth.put_client(url, {"client_name": "one"}, kind="document", fresh_until=oauth.now() + 60)
    await oauth.put_client(url, {"client_name": "two"}, kind="document", fresh_until=oauth.now() + 120)
    found = await oauth.get_client(url)
    assert found is not None and found.info == {"client_name": "two"} and found.fresh_until == oauth.now() + 120


async def test_a_code_exchanged_again_revokes_the_tokens_of_its_first_exchange(oauth: OAuthStore) -> None:
    grant = CodeGrant(
        "desk", "ada", ("polar:read",), "c" * 43, "http://127.0.0.1/cb", True, None, oauth.now() + 60, used=False
    )
    code = await oauth.create_code(grant)
    first = await oauth.exchange_code(code, "desk")
    assert first is not None and (await oauth.token(first.access)).revoked_at is None  # type: ignore[union-attr]
    assert await oauth.exchange_code(code, "desk") is None
    assert (await oauth.token(first.access)).revoked_at is not None  # type: ignore[union-attr]
    assert (await oauth.token(first.refresh)).revoked_at is not None  # type: ignore[union-attr]
