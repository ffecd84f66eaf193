"""The embedded authorization server's records: clients, pending requests, single-use codes and hashed tokens.

Codes and tokens are kept only as SHA-256 hashes. Each use is one conditional UPDATE (`... WHERE used_at IS
NULL`), so of two requests racing with one code or one refresh token exactly one wins, on SQLite and on
PostgreSQL alike (see sql.py). Every token descends from one code: its family. A code or refresh token used a
second time revokes the family, as OAuth 2.1 advises (§4.1.3, §4.3.1): the second user may be a thief, and the
server cannot tell which of the two is.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from polar_orders_mcp.store.schema import oauth_clients, oauth_codes, oauth_requests, oauth_tokens
from polar_orders_mcp.store.sql import SqlStore

ACCESS_PREFIX = "pom_at_"
REFRESH_PREFIX = "pom_rt_"


def digest(secret: str) -> str:
    """What the store keeps of a code, a token or a browser's cookie: its SHA-256, hex."""
    return hashlib.sha256(secret.encode("utf-8", "replace")).hexdigest()


@dataclass(frozen=True)
class StoredClient:
    """A client: registered by DCR (`kind` "registered"), or a metadata document fetched at its URL ("document",
    used until `fresh_until`)."""

    client_id: str
    info: dict[str, Any]
    kind: str
    fresh_until: float | None


@dataclass(frozen=True)
class PendingRequest:
    """An authorization request waiting for a person to sign in and decide."""

    id: str
    client_id: str
    params: dict[str, Any]
    person: str | None
    browser_hash: str | None
    csrf: str | None
    expires_at: float


@dataclass(frozen=True)
class CodeGrant:
    """What an authorization code was issued for."""

    client_id: str
    person: str
    scopes: tuple[str, ...]
    challenge: str
    redirect_uri: str
    redirect_explicit: bool
    resource: str | None
    expires_at: float
    used: bool


@dataclass(frozen=True)
class TokenRecord:
    """What a token grants; `used_at` marks a refresh token already exchanged."""

    kind: str
    client_id: str
    person: str
    scopes: tuple[str, ...]
    resource: str | None
    family: str
    expires_at: float
    used_at: float | None
    revoked_at: float | None


@dataclass(frozen=True)
class Issued:
    """A new access token and refresh token, the only time they exist outside the client."""

    access: str
    refresh: str
    access_expires_at: float
    scopes: tuple[str, ...]


def _scopes(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def _token(row: sa.Row[Any]) -> TokenRecord:
    return TokenRecord(
        row.kind,
        row.client_id,
        row.person,
        _scopes(row.scopes),
        row.resource,
        row.family,
        row.expires_at,
        row.used_at,
        row.revoked_at,
    )


class OAuthStore:
    """The authorization server's operations on the store's database, in its transactions."""

    def __init__(self, store: SqlStore, *, access_ttl: float, refresh_ttl: float) -> None:
        self._store = store
        self._access_ttl = access_ttl
        self._refresh_ttl = refresh_ttl

    def now(self) -> float:
        return self._store.now()

    def _tx(self, *, write: bool = True) -> Any:
        # The store's own transactions (IMMEDIATE on SQLite, READ COMMITTED on PostgreSQL; see sql.py).
        return self._store._tx(write=write)

    # Clients ----------------------------------------------------------------------------------------

    async def put_client(self, client_id: str, info: dict[str, Any], *, kind: str, fresh_until: float | None) -> None:
        """Record a client, replacing what was known of it (a metadata document fetched again)."""
        now = self.now()
        row = {
            "client_id": client_id,
            "info": json.dumps(info),
            "kind": kind,
            "created_at": now,
            "fetched_at": now if kind == "document" else None,
            "fresh_until": fresh_until,
        }
        dialect = postgresql if self._store.dialect == "postgresql" else sqlite
        insert = dialect.insert(oauth_clients).values(**row)
        changed = {k: insert.excluded[k] for k in ("info", "kind", "fetched_at", "fresh_until")}
        async with self._tx() as conn:
            await conn.execute(insert.on_conflict_do_update(index_elements=["client_id"], set_=changed))

    async def get_client(self, client_id: str) -> StoredClient | None:
        if len(client_id) > 512:
            return None
        async with self._tx(write=False) as conn:
            row = (await conn.execute(oauth_clients.select().where(oauth_clients.c.client_id == client_id))).first()
        if row is None:
            return None
        return StoredClient(row.client_id, json.loads(row.info), row.kind, row.fresh_until)

    # Pending requests -------------------------------------------------------------------------------

    async def create_request(self, client_id: str, params: dict[str, Any], *, ttl: float) -> str:
        request_id, now = secrets.token_urlsafe(24), self.now()
        async with self._tx() as conn:
            await conn.execute(oauth_requests.delete().where(oauth_requests.c.expires_at <= now))
            await conn.execute(
                oauth_requests.insert().values(
                    id=request_id, client_id=client_id, params=json.dumps(params), expires_at=now + ttl
                )
            )
        return request_id

    async def get_request(self, request_id: str) -> PendingRequest | None:
        async with self._tx(write=False) as conn:
            return await self._request(conn, request_id)

    async def _request(self, conn: AsyncConnection, request_id: str) -> PendingRequest | None:
        if len(request_id) > 64:
            return None
        row = (await conn.execute(oauth_requests.select().where(oauth_requests.c.id == request_id))).first()
        if row is None or row.expires_at <= self.now():
            return None
        return PendingRequest(
            row.id, row.client_id, json.loads(row.params), row.person, row.browser_hash, row.csrf, row.expires_at
        )

    async def sign_in(self, request_id: str, *, person: str, browser_hash: str, csrf: str) -> bool:
        """Bind a pending request to the person who signed in for it and their browser; False if it is gone."""
        async with self._tx() as conn:
            result = await conn.execute(
                oauth_requests.update()
                .where(oauth_requests.c.id == request_id, oauth_requests.c.expires_at > self.now())
                .values(person=person, browser_hash=browser_hash, csrf=csrf)
            )
        return bool(result.rowcount == 1)

    async def take_request(self, request_id: str, *, browser_hash: str) -> PendingRequest | None:
        """Remove a signed-in request to decide it, once: None when it is gone, stale, or another browser's."""
        async with self._tx() as conn:
            found = await self._request(conn, request_id)
            if found is None or found.person is None or found.browser_hash != browser_hash:
                return None
            taken = await conn.execute(
                oauth_requests.delete().where(
                    oauth_requests.c.id == request_id, oauth_requests.c.browser_hash == browser_hash
                )
            )
        return found if taken.rowcount == 1 else None

    # Codes ------------------------------------------------------------------------------------------

    async def create_code(self, grant: CodeGrant) -> str:
        """A new single-use code for `grant`. Used codes are kept as long as the tokens issued from them may live, so
        that a replay is recognised (and revokes them) for as long as it matters."""
        code, now = secrets.token_urlsafe(32), self.now()
        async with self._tx() as conn:
            await conn.execute(oauth_codes.delete().where(oauth_codes.c.expires_at <= now - self._refresh_ttl))
            await conn.execute(
                oauth_codes.insert().values(
                    code_hash=digest(code),
                    client_id=grant.client_id,
                    person=grant.person,
                    scopes=" ".join(grant.scopes),
                    challenge=grant.challenge,
                    redirect_uri=grant.redirect_uri,
                    redirect_explicit=grant.redirect_explicit,
                    resource=grant.resource,
                    expires_at=grant.expires_at,
                )
            )
        return code

    async def get_code(self, code: str) -> CodeGrant | None:
        """The grant of a code, used or not (a used one is a replay: see replayed())."""
        async with self._tx(write=False) as conn:
            row = (await conn.execute(oauth_codes.select().where(oauth_codes.c.code_hash == digest(code)))).first()
        if row is None:
            return None
        return CodeGrant(
            row.client_id,
            row.person,
            _scopes(row.scopes),
            row.challenge,
            row.redirect_uri,
            row.redirect_explicit,
            row.resource,
            row.expires_at,
            row.used_at is not None,
        )

    async def replayed(self, code: str) -> None:
        """A used code came back: revoke every token issued from it."""
        async with self._tx() as conn:
            await self._revoke_family(conn, digest(code))

    async def exchange_code(self, code: str, client_id: str) -> Issued | None:
        """Use a code up and issue its tokens, in one transaction; None when it was used already (its tokens are
        then revoked), expired, unknown or another client's."""
        family, now = digest(code), self.now()
        async with self._tx() as conn:
            used = await conn.execute(
                oauth_codes.update()
                .where(
                    oauth_codes.c.code_hash == family,
                    oauth_codes.c.client_id == client_id,
                    oauth_codes.c.used_at.is_(None),
                    oauth_codes.c.expires_at > now,
                )
                .values(used_at=now)
            )
            if used.rowcount != 1:
                await self._revoke_family(conn, family)
                return None
            row = (await conn.execute(oauth_codes.select().where(oauth_codes.c.code_hash == family))).one()
            await conn.execute(oauth_tokens.delete().where(oauth_tokens.c.expires_at <= now))
            return await self._issue(
                conn, row.client_id, row.person, _scopes(row.scopes), _scopes(row.scopes), row.resource, family
            )

    # Tokens -----------------------------------------------------------------------------------------

    async def _issue(
        self,
        conn: AsyncConnection,
        client_id: str,
        person: str,
        scopes: tuple[str, ...],
        refresh_scopes: tuple[str, ...],
        resource: str | None,
        family: str,
    ) -> Issued:
        now = self.now()
        access = ACCESS_PREFIX + secrets.token_urlsafe(32)
        refresh = REFRESH_PREFIX + secrets.token_urlsafe(32)
        common = {"client_id": client_id, "person": person, "resource": resource, "family": family, "created_at": now}
        await conn.execute(
            oauth_tokens.insert(),
            [
                {
                    **common,
                    "token_hash": digest(access),
                    "kind": "access",
                    "scopes": " ".join(scopes),
                    "expires_at": now + self._access_ttl,
                },
                {
                    **common,
                    "token_hash": digest(refresh),
                    "kind": "refresh",
                    "scopes": " ".join(refresh_scopes),
                    "expires_at": now + self._refresh_ttl,
                },
            ],
        )
        return Issued(access, refresh, now + self._access_ttl, scopes)

    async def token(self, token: str) -> TokenRecord | None:
        """What a token is, whatever its state (the caller checks kind, expiry, revocation and use)."""
        async with self._tx(write=False) as conn:
            row = (await conn.execute(oauth_tokens.select().where(oauth_tokens.c.token_hash == digest(token)))).first()
        return _token(row) if row else None

    async def refresh(self, refresh: str, client_id: str, scopes: tuple[str, ...]) -> Issued | None:
        """Exchange a refresh token for a new pair, once: the new refresh token keeps the grant's scopes, the access
        token has `scopes` (never more). None when it is unknown, expired, revoked, another client's, or asks for
        more; when it was exchanged already, the whole family is revoked too."""
        now, key = self.now(), digest(refresh)
        async with self._tx() as conn:
            row = (await conn.execute(oauth_tokens.select().where(oauth_tokens.c.token_hash == key))).first()
            if row is None or row.kind != "refresh" or row.client_id != client_id:
                return None
            if row.used_at is not None:
                await self._revoke_family(conn, row.family)
                return None
            granted = _scopes(row.scopes)
            if not set(scopes) <= set(granted):
                return None
            used = await conn.execute(
                oauth_tokens.update()
                .where(
                    oauth_tokens.c.token_hash == key,
                    oauth_tokens.c.used_at.is_(None),
                    oauth_tokens.c.revoked_at.is_(None),
                    oauth_tokens.c.expires_at > now,
                )
                .values(used_at=now)
            )
            if used.rowcount != 1:
                # Another exchange of this token won the race (a reuse like any other), or it lapsed.
                if (
                    await conn.execute(sa.select(oauth_tokens.c.used_at).where(oauth_tokens.c.token_hash == key))
                ).scalar() is not None:
                    await self._revoke_family(conn, row.family)
                return None
            return await self._issue(
                conn, row.client_id, row.person, scopes or granted, granted, row.resource, row.family
            )

    async def revoke(self, token: str) -> None:
        """RFC 7009: revoking an access or a refresh token revokes every token of its family."""
        async with self._tx() as conn:
            family = (
                await conn.execute(sa.select(oauth_tokens.c.family).where(oauth_tokens.c.token_hash == digest(token)))
            ).scalar()
            if family is not None:
                await self._revoke_family(conn, family)

    async def _revoke_family(self, conn: AsyncConnection, family: str) -> None:
        await conn.execute(
            oauth_tokens.update()
            .where(oauth_tokens.c.family == family, oauth_tokens.c.revoked_at.is_(None))
            .values(revoked_at=self.now())
        )
