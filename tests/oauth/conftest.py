"""Fixtures of the authorization server's tests: its routes on a real SQLite store, and a browser-like client."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from starlette.applications import Starlette

from polar_orders_mcp.oauth import embedded
from polar_orders_mcp.oauth.documents import DocumentFetcher
from polar_orders_mcp.settings import Settings
from polar_orders_mcp.store.sql import SqlStore

ADA = "ada-secret-0123456789"  # use+approve: may connect clients
BOB = "bob-secret-0123456789"  # approve only
REDIRECT = "http://127.0.0.1:33418/callback"
BASE = "http://localhost:8000"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def make_settings(**given: Any) -> Settings:
    defaults: dict[str, Any] = {
        "emulator": True,
        "transport": "http",
        "oauth": True,
        "port": 8000,
        "approvers": f"ada:{ADA},bob:{BOB}",
        "roles": "ada=use+approve",
    }
    return Settings(**{**defaults, **given})


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, html
    return found.group(1)


@dataclass
class Server:
    """The authorization server's routes in process, and a client that behaves like a browser (cookies, Origin)."""

    settings: Settings
    store: SqlStore
    verifier: embedded.EmbeddedVerifier
    http: httpx2.AsyncClient
    pending: dict[str, str] = field(default_factory=dict)

    async def register(self, **metadata: Any) -> str:
        body = {"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none", "client_name": "Desk", **metadata}
        answer = await self.http.post("/register", json=body)
        assert answer.status_code == 201, answer.text
        return str(answer.json()["client_id"])

    async def authorize(self, client_id: str, challenge: str, **params: str) -> httpx2.Response:
        query = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": REDIRECT,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "state": "st-1",
            "scope": "polar:read polar:write",
            "resource": f"{BASE}/mcp",
            **params,
        }
        return await self.http.get("/authorize", params={k: v for k, v in query.items() if v != ""})

    async def sign_in(self, sign_in_url: str, secret: str = ADA) -> httpx2.Response:
        page = await self.http.get(sign_in_url)
        assert page.status_code == 200, page.text
        request_id = parse_qs(urlsplit(sign_in_url).query)["request"][0]
        form = {"csrf": csrf_of(page.text), "request": request_id, "secret": secret}
        return await self.post("/oauth/sign-in", form)

    async def post(self, path: str, form: dict[str, str]) -> httpx2.Response:
        return await self.http.post(path, data=form, headers={"Origin": BASE})

    async def decide(self, consent_url: str, decision: str = "allow") -> httpx2.Response:
        page = await self.http.get(consent_url)
        assert page.status_code == 200, page.text
        request_id = parse_qs(urlsplit(consent_url).query)["request"][0]
        return await self.post(
            "/oauth/consent", {"csrf": csrf_of(page.text), "request": request_id, "decision": decision}
        )

    async def code_for(self, client_id: str, challenge: str, **params: str) -> str:
        """A code, through sign-in and consent as ada."""
        started = await self.authorize(client_id, challenge, **params)
        assert started.status_code == 302, started.text
        signed = await self.sign_in(started.headers["location"])
        assert signed.status_code == 303, signed.text
        decided = await self.decide(signed.headers["location"])
        assert decided.status_code == 303, decided.text
        return parse_qs(urlsplit(decided.headers["location"]).query)["code"][0]

    async def token(self, **form: str) -> httpx2.Response:
        return await self.http.post("/token", data=form)

    async def tokens(self, client_id: str, **params: str) -> dict[str, Any]:
        verifier, challenge = pkce()
        code = await self.code_for(client_id, challenge, **params)
        answer = await self.token(
            grant_type="authorization_code",
            code=code,
            client_id=client_id,
            code_verifier=verifier,
            redirect_uri=REDIRECT,
        )
        assert answer.status_code == 200, answer.text
        return dict(answer.json())


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    opened = SqlStore(f"sqlite:///{tmp_path / 'state.db'}")
    yield opened
    await opened.close()


async def serve(settings: Settings, store: SqlStore, fetcher: DocumentFetcher | None = None) -> Server:
    async def provide() -> SqlStore:
        return store

    verifier, routes = embedded.build(settings, provide, fetcher=fetcher)
    app = Starlette(routes=routes)
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url=BASE)
    return Server(settings, store, verifier, http)


@pytest.fixture
async def server(store: SqlStore) -> AsyncIterator[Server]:
    served = await serve(make_settings(), store)
    async with served.http:
        yield served


@dataclass(frozen=True)
class Authority:
    """A certificate authority of the test's own, and a certificate it issued for localhost."""

    ca_pem: bytes
    cert_file: Path
    key_file: Path

    def trust(self) -> Any:
        import ssl

        return ssl.create_default_context(cadata=self.ca_pem.decode())


@pytest.fixture(scope="session")
def authority(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def issue(subject: str, key: Any, signer: Any, issuer: str, ca: bool) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = issue("Test CA", ca_key, ca_key, "Test CA", True)
    leaf = issue("localhost", leaf_key, ca_key, "Test CA", False)
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return Authority(ca.public_bytes(serialization.Encoding.PEM), folder / "cert.pem", folder / "key.pem")
