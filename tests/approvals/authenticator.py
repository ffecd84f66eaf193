"""A software passkey for tests without a browser: a P-256 key from `cryptography`, CBOR from py_webauthn's
helper, and the WebAuthn byte layouts (authenticator data, client data) a browser and authenticator produce."""

from __future__ import annotations

import hashlib
import json
import os
import struct

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import bytes_to_base64url, encode_cbor

UP, UV, AT = 0x01, 0x04, 0x40


class SoftPasskey:
    """One credential, as an authenticator holding it answers create() and get() on a given origin."""

    def __init__(self, rp_id: str = "localhost") -> None:
        self.rp_id = rp_id
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.raw_id = os.urandom(16)
        self.count = 0

    @property
    def id(self) -> str:
        return bytes_to_base64url(self.raw_id)

    def _cose(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        x, y = numbers.x.to_bytes(32, "big"), numbers.y.to_bytes(32, "big")
        return encode_cbor({1: 2, 3: -7, -1: 1, -2: x, -3: y})

    def _auth_data(self, flags: int, rp_id: str | None, attested: bytes = b"") -> bytes:
        rp_hash = hashlib.sha256((rp_id or self.rp_id).encode()).digest()
        return rp_hash + bytes([flags]) + struct.pack(">I", self.count) + attested

    @staticmethod
    def _client_data(kind: str, challenge: bytes, origin: str) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": bytes_to_base64url(challenge), "origin": origin, "crossOrigin": False}
        ).encode()

    def create(self, challenge: bytes, origin: str, *, uv: bool = True) -> str:
        """The JSON a browser posts after navigator.credentials.create (attestation "none")."""
        attested = bytes(16) + struct.pack(">H", len(self.raw_id)) + self.raw_id + self._cose()
        auth_data = self._auth_data(UP | (UV if uv else 0) | AT, None, attested)
        attestation = encode_cbor({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = self._client_data("webauthn.create", challenge, origin)
        return json.dumps(
            {
                "id": self.id,
                "rawId": self.id,
                "type": "public-key",
                "response": {
                    "clientDataJSON": bytes_to_base64url(client_data),
                    "attestationObject": bytes_to_base64url(attestation),
                },
            }
        )

    def get(
        self, challenge: bytes, origin: str, *, uv: bool = True, rp_id: str | None = None, count: int | None = None
    ) -> str:
        """The JSON a browser posts after navigator.credentials.get; the count moves on unless given."""
        self.count = self.count + 1 if count is None else count
        auth_data = self._auth_data(UP | (UV if uv else 0), rp_id)
        client_data = self._client_data("webauthn.get", challenge, origin)
        signature = self.key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        return json.dumps(
            {
                "id": self.id,
                "rawId": self.id,
                "type": "public-key",
                "response": {
                    "clientDataJSON": bytes_to_base64url(client_data),
                    "authenticatorData": bytes_to_base64url(auth_data),
                    "signature": bytes_to_base64url(signature),
                    "userHandle": None,
                },
            }
        )
