"""The server's Ed25519 signing key, kept outside the database, and the compact JWS (EdDSA) it signs with.

The key signs each decision and each audit record as it is stored, so that someone who can write the
database (and the audit file) cannot rewrite what was decided without the key too. It comes from the
environment (POLAR_MCP_SIGNING_KEY: a PEM or a JWK, the same on every replica) or from its own file in the
state directory, made on first use, readable by its owner alone. It is never logged, printed or put in an
error message; the public half (`polar-orders-mcp audit public-key`) is what checks a signature.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import secrets
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from jwt.algorithms import OKPAlgorithm

log = logging.getLogger(__name__)

ENV = "POLAR_MCP_SIGNING_KEY"
KEY_FILE = "signing-key.pem"
ALGORITHM = "EdDSA"
_JWS = jwt.api_jws.PyJWS()


class SignatureRefused(ValueError):
    """A signature that does not check out: made by another key, for other content, or not a JWS at all."""


def canonical(claims: dict[str, Any]) -> bytes:
    """The bytes a signature covers: sorted keys, ASCII, no spaces."""
    return json.dumps(claims, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def thumbprint(jwk: dict[str, Any]) -> str:
    """The key's RFC 7638 thumbprint (SHA-256 of its required members), base64url: its key id."""
    required = {name: jwk[name] for name in ("crv", "kty", "x")}
    digest = hashlib.sha256(json.dumps(required, sort_keys=True, separators=(",", ":")).encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class PublicKey:
    """The public half: checks signatures, offline."""

    def __init__(self, key: Ed25519PublicKey) -> None:
        self._key = key
        jwk: dict[str, Any] = OKPAlgorithm.to_jwk(key, as_dict=True)
        self.jwk = {"kty": jwk["kty"], "crv": jwk["crv"], "x": jwk["x"]}
        self.kid = thumbprint(self.jwk)
        self.jwk.update(kid=self.kid, alg=ALGORITHM, use="sig")

    @classmethod
    def from_text(cls, text: str) -> PublicKey:
        """A public key given as a JWK (JSON) or a PEM; a private one is refused (it is not needed here)."""
        text = text.strip()
        try:
            if text.startswith("{"):
                jwk = json.loads(text)
                if "d" in jwk:
                    raise ValueError("a private key was given where the public one is expected")
                if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
                    raise ValueError("the JWK is not an Ed25519 (OKP) key")
                key: Any = OKPAlgorithm.from_jwk(jwk)
            else:
                key = serialization.load_pem_public_key(text.encode())
        except (ValueError, TypeError, KeyError, jwt.InvalidKeyError) as exc:
            raise ValueError(f"not an Ed25519 public key (a JWK or a PEM): {exc}") from None
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("not an Ed25519 public key")
        return cls(key)

    def verify(self, token: str, typ: str) -> dict[str, Any]:
        """The claims a compact JWS of this type carries, once its signature is checked with this key."""
        try:
            header = _JWS.get_unverified_header(token)
            if header.get("kid") not in (None, self.kid):
                raise SignatureRefused(f"it was signed by another key (key id {str(header.get('kid'))[:64]})")
            if header.get("typ") != typ:
                raise SignatureRefused(f"it is a {str(header.get('typ'))[:40]!r}, not a {typ!r}")
            found = _JWS.decode_complete(token, self._key, algorithms=[ALGORITHM])
            claims = json.loads(found["payload"])
        except SignatureRefused:
            raise
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise SignatureRefused(f"its signature does not check out ({type(exc).__name__})") from None
        if not isinstance(claims, dict):
            raise SignatureRefused("it does not carry a JSON object")
        return claims


class SigningKey:
    """The private key. Its repr and str name the key id alone."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public = PublicKey(key.public_key())
        self.kid = self.public.kid

    def __repr__(self) -> str:
        return f"SigningKey(kid={self.kid!r})"

    __str__ = __repr__

    def sign(self, claims: dict[str, Any], typ: str) -> str:
        """A compact JWS (EdDSA) of the claims, naming this key and the document's type in its header."""
        return _JWS.encode(canonical(claims), self._key, algorithm=ALGORITHM, headers={"kid": self.kid, "typ": typ})

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_text(cls, text: str, where: str) -> SigningKey:
        """A private key given as a PEM (PKCS#8) or a JWK with its "d". Errors never repeat the text."""
        text = text.strip()
        try:
            if text.startswith("{"):
                key: Any = OKPAlgorithm.from_jwk(text)
            else:
                key = serialization.load_pem_private_key(text.encode(), password=None)
        except (ValueError, TypeError, KeyError, jwt.InvalidKeyError):
            key = None
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f'{where} is not an Ed25519 private key (a PEM or a JWK with "d")')
        return cls(key)

    def pem(self) -> bytes:
        return self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


def load_or_create(path: Path) -> SigningKey:
    """The key in `path`, made there on first use: the file 0600 in a 0700 directory. Processes starting
    together agree on one key (the file appears whole, once)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        fresh = SigningKey.generate()
        draft = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
        descriptor = os.open(draft, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as out:
                out.write(fresh.pem())
                out.flush()
                os.fsync(out.fileno())
            try:
                os.link(draft, path)  # fails when another process made it first: then its key is the one
                log.info(
                    "made a new signing key in %s (key id %s): back it up, and keep its public key apart "
                    "(polar-orders-mcp audit public-key)",
                    path,
                    fresh.kid,
                )
            except FileExistsError:
                pass
        finally:
            draft.unlink(missing_ok=True)
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)
    return SigningKey.from_text(path.read_text(encoding="ascii", errors="replace"), f"the key file {path}")


def signing_key(given: str | None, state_dir: Path) -> SigningKey:
    """The server's key: POLAR_MCP_SIGNING_KEY's when given, else the state directory's own file."""
    if given is not None and given.strip():
        return SigningKey.from_text(given, ENV)
    return load_or_create(state_dir / KEY_FILE)


def existing_key(given: str | None, state_dir: Path) -> SigningKey | None:
    """The server's key if there is one (the environment's, or the state directory's file); never makes one."""
    if given is not None and given.strip():
        return SigningKey.from_text(given, ENV)
    path = state_dir / KEY_FILE
    if not path.exists():
        return None
    return SigningKey.from_text(path.read_text(encoding="ascii", errors="replace"), f"the key file {path}")
