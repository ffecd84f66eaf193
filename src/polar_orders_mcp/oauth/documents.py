"""Client ID Metadata Documents: a client whose id is an https URL is described by the JSON document served there.

draft-ietf-oauth-client-id-metadata-document, as MCP 2025-11-25 asks. The server fetches a URL a stranger chose,
so the fetch is fenced: the host's addresses are resolved once and refused when any is private, loopback,
link-local or reserved (unless the operator allows private metadata), and the connection goes to the address
that was checked (TLS still verifies the certificate against the host name), so a DNS answer that changes
between the check and the fetch cannot point it inward. No proxy from the environment, no redirect followed,
at most DOCUMENT_LIMIT bytes read, FETCH_TIMEOUT seconds in all.
"""

from __future__ import annotations

import ipaddress
import json
import re
import socket
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import httpx2

DOCUMENT_LIMIT = 5 * 1024
"""Bytes a metadata document may have (the draft suggests 5 KB)."""
FETCH_TIMEOUT = 5.0
CACHE_LEAST = 60.0
CACHE_MOST = 3600.0
"""Seconds a fetched document is used before it is fetched again: its Cache-Control max-age, within these."""
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class DocumentRefused(Exception):
    """A client's metadata document could not be used; the message says why, for the person at the browser."""


@dataclass(frozen=True)
class Document:
    """A fetched, checked metadata document and how long it may be used."""

    info: dict[str, Any]
    max_age: float


def is_document_id(client_id: str) -> bool:
    """A client id that names a metadata document (an http(s) URL) rather than a registered client."""
    return client_id.startswith(("https://", "http://"))


def check_url(url: str, *, private_ok: bool) -> tuple[str, int]:
    """(host, port) of a client id that may be fetched, or DocumentRefused saying what is wrong with it."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    loopback_http = private_ok and parts.scheme == "http" and host in LOOPBACK_NAMES
    if parts.scheme != "https" and not loopback_http:
        raise DocumentRefused(f"The client id {url!r} is not an https URL.")
    if not host or parts.username is not None or parts.password is not None or parts.fragment:
        raise DocumentRefused(f"The client id {url!r} must be an https URL with a host and no user or fragment.")
    if parts.path in ("", "/") or any(s in (".", "..") for s in parts.path.split("/")):
        raise DocumentRefused(f"The client id {url!r} must have a path (and no . or .. in it).")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise DocumentRefused(f"The client id {url!r} has an invalid port.") from exc
    return host, port


def _refused_address(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


async def _addresses(host: str, port: int, *, private_ok: bool) -> list[Address]:
    try:
        found = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise DocumentRefused(f"The client's host {host} could not be resolved.") from exc
    addresses = [ipaddress.ip_address(info[4][0]) for info in found]
    if not addresses:
        raise DocumentRefused(f"The client's host {host} could not be resolved.")
    if not private_ok and any(_refused_address(a) for a in addresses):
        raise DocumentRefused(
            f"The client's host {host} resolves to a private, loopback or reserved address: its metadata document "
            "is not fetched (the operator may allow that with --oauth-private-metadata)."
        )
    return addresses


def _max_age(cache_control: str) -> float:
    found = re.search(r"(?:^|[,\s])max-age\s*=\s*\"?(\d{1,10})", cache_control.lower())
    if "no-store" in cache_control.lower() or "no-cache" in cache_control.lower():
        return CACHE_LEAST
    return CACHE_MOST if found is None else min(CACHE_MOST, max(CACHE_LEAST, float(found.group(1))))


class DocumentFetcher:
    """Fetches and checks metadata documents. `verify`: the TLS trust (tests pass their own authority)."""

    def __init__(self, *, private_ok: bool, verify: ssl.SSLContext | bool = True) -> None:
        self.private_ok = private_ok
        self._verify = verify

    async def fetch(self, url: str) -> Document:
        host, port = check_url(url, private_ok=self.private_ok)
        try:
            with anyio.fail_after(FETCH_TIMEOUT):
                address = (await _addresses(host, port, private_ok=self.private_ok))[0]
                body, cache_control = await self._get(url, host, address)
        except TimeoutError as exc:
            raise DocumentRefused(
                f"The client's metadata document at {url} did not arrive within {FETCH_TIMEOUT:.0f} seconds."
            ) from exc
        return Document(_checked(url, body), _max_age(cache_control))

    async def _get(self, url: str, host: str, address: Address) -> tuple[bytes, str]:
        parts = urlsplit(url)
        literal = f"[{address}]" if address.version == 6 else str(address)
        pinned = urlunsplit(parts._replace(netloc=f"{literal}:{parts.port}" if parts.port else literal))
        extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
        headers = {"Host": parts.netloc, "Accept": "application/json"}
        async with httpx2.AsyncClient(
            follow_redirects=False, trust_env=False, verify=self._verify, timeout=FETCH_TIMEOUT
        ) as client:
            try:
                async with client.stream("GET", pinned, headers=headers, extensions=extensions) as response:
                    if response.is_redirect:
                        raise DocumentRefused(
                            f"The client's metadata document at {url} answered with a redirect "
                            f"({response.status_code}); redirects are not followed: serve it at the client id itself."
                        )
                    if response.status_code != 200:
                        raise DocumentRefused(
                            f"The client's metadata document at {url} answered {response.status_code}, not 200."
                        )
                    body = bytearray()
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        if len(body) > DOCUMENT_LIMIT:
                            raise DocumentRefused(
                                f"The client's metadata document at {url} is larger than {DOCUMENT_LIMIT} bytes."
                            )
                    return bytes(body), response.headers.get("cache-control", "")
            except httpx2.HTTPError as exc:
                raise DocumentRefused(
                    f"The client's metadata document at {url} could not be fetched ({type(exc).__name__})."
                ) from exc


def _checked(url: str, body: bytes) -> dict[str, Any]:
    """The document as client information, or DocumentRefused saying which rule it breaks."""
    try:
        info = json.loads(body)
    except ValueError as exc:
        raise DocumentRefused(f"The client's metadata document at {url} is not JSON.") from exc
    if not isinstance(info, dict):
        raise DocumentRefused(f"The client's metadata document at {url} is not a JSON object.")
    if info.get("client_id") != url:
        raise DocumentRefused(
            f"The client's metadata document at {url} names another client_id: it must be exactly its own URL."
        )
    uris = info.get("redirect_uris")
    if not isinstance(uris, list) or not uris or not all(isinstance(u, str) for u in uris):
        raise DocumentRefused(f"The client's metadata document at {url} has no redirect_uris.")
    method = info.get("token_endpoint_auth_method", "none")
    if method != "none" or "client_secret" in info:
        raise DocumentRefused(
            f"The client's metadata document at {url} asks for token_endpoint_auth_method {str(method)[:40]!r}: "
            "only public clients ('none', with PKCE) are accepted by metadata document."
        )
    return info
