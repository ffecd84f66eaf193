"""The signing key: its own 0600 file in a 0700 state directory, made once, or the environment's."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import pytest

from polar_orders_mcp.signing import KEY_FILE, PublicKey, SignatureRefused, SigningKey, existing_key, signing_key


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_key_is_made_on_first_use_in_its_own_private_file(tmp_path: Path) -> None:
    state = tmp_path / "state"
    made = signing_key(None, state)
    assert mode(state) == 0o700 and mode(state / KEY_FILE) == 0o600
    assert signing_key(None, state).kid == made.kid  # the same key every later time
    assert (state / KEY_FILE).read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert os.listdir(state) == [KEY_FILE]


def test_a_key_file_readable_by_others_is_tightened(tmp_path: Path) -> None:
    made = signing_key(None, tmp_path)
    os.chmod(tmp_path / KEY_FILE, 0o644)
    assert signing_key(None, tmp_path).kid == made.kid and mode(tmp_path / KEY_FILE) == 0o600


def test_processes_starting_together_agree_on_one_key(tmp_path: Path) -> None:
    kids: list[str] = []
    threads = [threading.Thread(target=lambda: kids.append(signing_key(None, tmp_path).kid)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(kids)) == 1 and sorted(os.listdir(tmp_path)) == [KEY_FILE]


def test_the_environments_key_is_used_and_no_file_is_made(tmp_path: Path) -> None:
    key = SigningKey.generate()
    assert signing_key(key.pem().decode(), tmp_path).kid == key.kid
    assert existing_key(key.pem().decode(), tmp_path) is not None
    assert not (tmp_path / KEY_FILE).exists() and existing_key(None, tmp_path) is None


def test_a_jwk_with_its_private_part_is_a_key_too(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    from jwt.algorithms import OKPAlgorithm

    key = SigningKey.generate()
    private = load_pem_private_key(key.pem(), password=None)
    jwk = OKPAlgorithm.to_jwk(private)  # type: ignore[arg-type]
    assert signing_key(jwk, tmp_path).kid == key.kid


def test_a_bad_key_is_refused_without_repeating_it(tmp_path: Path) -> None:
    secret = "not-a-key-" + "s3cr3t" * 8
    with pytest.raises(ValueError) as refused:
        signing_key(secret, tmp_path)
    assert secret not in str(refused.value) and "s3cr3t" not in str(refused.value)
    assert str(refused.value) == 'POLAR_MCP_SIGNING_KEY is not an Ed25519 private key (a PEM or a JWK with "d")'


def test_the_key_shows_only_its_id() -> None:
    key = SigningKey.generate()
    assert repr(key) == str(key) == f"SigningKey(kid={key.kid!r})"


def test_the_public_key_is_a_jwk_named_by_its_thumbprint() -> None:
    key = SigningKey.generate()
    jwk = key.public.jwk
    assert set(jwk) == {"kty", "crv", "x", "kid", "alg", "use"} and jwk["kty"] == "OKP" and jwk["crv"] == "Ed25519"
    assert PublicKey.from_text(json.dumps(jwk)).kid == key.kid == jwk["kid"]
    with pytest.raises(ValueError, match="a private key was given"):
        PublicKey.from_text(json.dumps({**jwk, "d": "x"}))


def test_a_signature_checks_out_only_for_its_key_and_its_kind() -> None:
    key, other = SigningKey.generate(), SigningKey.generate()
    token = key.sign({"seq": 1, "hash": "ab"}, "pom-audit-record+jws")
    assert key.public.verify(token, "pom-audit-record+jws") == {"seq": 1, "hash": "ab"}
    with pytest.raises(SignatureRefused, match="not a 'pom-audit-head\\+jws'"):
        key.public.verify(token, "pom-audit-head+jws")
    with pytest.raises(SignatureRefused, match=f"signed by another key \\(key id {key.kid}\\)"):
        other.public.verify(token, "pom-audit-record+jws")
