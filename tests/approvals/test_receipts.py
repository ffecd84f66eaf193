"""A decision and its outcome as a signed receipt: exported from the store, checked offline with the public key."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.signing import KEY_FILE, SigningKey
from tests.approvals.test_audit import a_days_work

pytestmark = pytest.mark.anyio


def audit(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "polar_orders_mcp", "audit", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("POLAR")} | (env or {}),
    )


def payload(token: str) -> dict[str, Any]:
    body = token.strip().split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


@pytest.fixture
async def exported(make_parts: Any, seed: SeedInfo, tmp_path: Path) -> tuple[Path, str, str]:
    """A day's work, its charge's receipt in a file, and the public key as a JWK."""
    approval_id = await a_days_work(make_parts(), seed)
    state = str(tmp_path / "state")
    out = tmp_path / "receipt.jws"
    made = audit("receipt", approval_id, "--state-dir", state, "--out", str(out))
    assert made.returncode == 0, made.stderr
    jwk = audit("public-key", "--state-dir", state).stdout.strip()
    return out, approval_id, jwk


async def test_a_receipt_is_checked_offline_with_the_public_key_alone(
    exported: tuple[Path, str, str], seed: SeedInfo, tmp_path: Path
) -> None:
    out, approval_id, jwk = exported
    checked = audit("receipt", "--verify", str(out), "--public-key", jwk, "--state-dir", str(tmp_path / "nowhere"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    first = checked.stdout.splitlines()[0]
    assert first.startswith(
        f"receipt intact, signed by key {json.loads(jwk)['kid']}: approval {approval_id} approved "
        "by approver (console) at "
    )
    assert first.endswith("; outcome succeeded.")
    document = payload(out.read_text())
    mandate, receipt = document["payment_mandate"], document["payment_receipt"]
    assert mandate["payment_amount"] == {"value": 1500, "currency": "USD"}
    assert mandate["target"] == {"tool": "finalize_order", "id": seed.draft_orders["good_card"]}
    assert "4242" in mandate["payment_instrument"] and mandate["payee"] == {"polar_server": "the embedded emulator"}
    assert mandate["approver"] == "approver" and mandate["decision"] == "approved" and mandate["exp"] > mandate["iat"]
    assert receipt["status"] == "succeeded" and receipt["polar_id"] == seed.draft_orders["good_card"]
    assert receipt["amount_moved"] == {"value": 1500, "currency": "USD"}
    assert [r["entry"]["outcome"] for r in document["audit"]] == ["approval_pending", "done"]


async def test_a_receipt_with_one_byte_changed_is_refused(exported: tuple[Path, str, str], tmp_path: Path) -> None:
    out, _, jwk = exported
    header, body, signature = out.read_text().strip().split(".")
    claims = payload(out.read_text())
    claims["payment_mandate"]["payment_amount"]["value"] = 150
    forged_body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    for n, token in enumerate((f"{header}.{forged_body}.{signature}", f"{header}.{body}.{flipped}")):
        changed = tmp_path / f"changed-{n}.jws"
        changed.write_text(token)
        refused = audit("receipt", "--verify", str(changed), "--public-key", jwk)
        assert refused.returncode == 1
        assert (
            refused.stdout == "receipt REFUSED: the receipt's signature does not check out: its signature does "
            "not check out (InvalidSignatureError).\n"
        )


async def test_a_receipt_signed_by_another_key_is_refused(exported: tuple[Path, str, str], tmp_path: Path) -> None:
    out, _, jwk = exported
    other = SigningKey.generate()
    resigned = tmp_path / "resigned.jws"
    resigned.write_text(other.sign(payload(out.read_text()), "pom-receipt+jws"))
    refused = audit("receipt", "--verify", str(resigned), "--public-key", jwk)
    assert refused.returncode == 1
    assert refused.stdout == (
        f"receipt REFUSED: the receipt's signature does not check out: it was signed by another key (key id "
        f"{other.kid}).\n"
    )
    # Signed by the other key throughout (its decision too), it checks out with that key only.
    assert audit("receipt", "--verify", str(out), "--public-key", json.dumps(other.public.jwk)).returncode == 1


async def test_a_receipt_whose_mandate_is_not_what_the_decision_signed_is_refused(
    exported: tuple[Path, str, str], tmp_path: Path
) -> None:
    out, _, jwk = exported
    key = SigningKey.from_text((tmp_path / "state" / KEY_FILE).read_text(), "test")
    claims = payload(out.read_text())
    claims["payment_mandate"]["approver"] = "mallory"  # re-signed whole with the key: the decision inside says ada
    forged = tmp_path / "forged.jws"
    forged.write_text(key.sign(claims, "pom-receipt+jws"))
    refused = audit("receipt", "--verify", str(forged), "--public-key", jwk)
    assert refused.stdout == "receipt REFUSED: the mandate's approver is not what the decision's signature covers.\n"


async def test_no_receipt_for_a_decision_changed_in_the_store(make_parts: Any, seed: SeedInfo, tmp_path: Path) -> None:
    import sqlite3

    approval_id = await a_days_work(make_parts(), seed)
    with sqlite3.connect(tmp_path / "state" / "state.db") as connection:
        connection.execute("UPDATE pom_approvals SET decided_by = 'mallory' WHERE id = ?", (approval_id,))
    refused = audit("receipt", approval_id, "--state-dir", str(tmp_path / "state"))
    assert refused.returncode == 1
    assert refused.stdout == (
        f"receipt REFUSED: approval {approval_id} in the store does not match its decision's signature: its "
        "signature does not match it (signed with other decided_by).\n"
    )


async def test_the_signing_key_never_appears_in_what_the_commands_print(
    make_parts: Any, seed: SeedInfo, tmp_path: Path
) -> None:
    key = SigningKey.generate()
    pem = key.pem().decode()
    secret_jwk = json.dumps({**key.public.jwk, "d": _d(key)})
    log = tmp_path / "audit.jsonl"
    approval_id = await a_days_work(make_parts(audit_log=str(log), signing_key=pem), seed)
    state = str(tmp_path / "state")
    runs = [
        audit("verify", "--state-dir", state, env={"POLAR_MCP_SIGNING_KEY": pem}),
        audit("verify", "--file", str(log), "--state-dir", state, env={"POLAR_MCP_SIGNING_KEY": secret_jwk}),
        audit("receipt", approval_id, "--state-dir", state, env={"POLAR_MCP_SIGNING_KEY": pem}),
        audit("public-key", env={"POLAR_MCP_SIGNING_KEY": secret_jwk}),
        audit("verify", "--state-dir", state, env={"POLAR_MCP_SIGNING_KEY": pem[:-40] + "garbage\n"}),
    ]
    assert [r.returncode for r in runs] == [0, 0, 0, 0, 2]
    assert json.loads(runs[3].stdout) == key.public.jwk  # the environment's key: no file was made
    assert not (tmp_path / "state" / KEY_FILE).exists()
    assert runs[4].stderr == (
        'polar-orders-mcp audit: POLAR_MCP_SIGNING_KEY is not an Ed25519 private key (a PEM or a JWK with "d")\n'
    )
    secrets = [_d(key), *[line for line in pem.splitlines() if "-----" not in line]]
    for run in runs:
        for secret in secrets:
            assert secret not in run.stdout and secret not in run.stderr
    for secret in secrets:
        assert secret not in log.read_text()


def _d(key: SigningKey) -> str:
    from cryptography.hazmat.primitives import serialization

    raw = key._key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _facts(claims: dict[str, Any]) -> None:
    claims["payment_mandate"]["facts"]["amount"] = 15


def _reference(claims: dict[str, Any]) -> None:
    claims["payment_receipt"]["reference"] = "0" * 64


def _record(claims: dict[str, Any]) -> None:
    claims["audit"][-1]["entry"]["polar_status"] = "void"


def _record_of_another(claims: dict[str, Any]) -> None:
    """A genuine record (hash and signature) of another call: the day's first, an update_order."""
    claims["audit"][-1] = claims.pop("first_record")


def _record_signature(claims: dict[str, Any]) -> None:
    claims["audit"][-1]["sig"] = claims["audit"][0]["sig"]


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (_facts, "the mandate's facts are not the ones its transaction_id (their hash) names"),
        (_reference, "the receipt's reference is not the hash of its mandate"),
        (_record, "audit record {seq} in the receipt does not match its hash"),
        (_record_of_another, "audit record {seq} in the receipt is about another approval"),
        (
            _record_signature,
            "audit record {seq} in the receipt: its signature does not match it (signed with other hash, seq)",
        ),
    ],
)
async def test_a_receipt_re_signed_whole_is_still_checked_part_by_part(
    exported: tuple[Path, str, str], tmp_path: Path, change: Any, said: str
) -> None:
    """Even signed with the key itself (an exporter's slip, or the key's holder), each part must agree."""
    out, _, jwk = exported
    key = SigningKey.from_text((tmp_path / "state" / KEY_FILE).read_text(), "test")
    claims = payload(out.read_text())
    claims["first_record"] = first_record(tmp_path)
    change(claims)
    claims.pop("first_record", None)
    forged = tmp_path / "forged.jws"
    forged.write_text(key.sign(claims, "pom-receipt+jws"))
    refused = audit("receipt", "--verify", str(forged), "--public-key", jwk)
    assert refused.stdout == f"receipt REFUSED: {said.format(seq=claims['audit'][-1]['seq'])}.\n"


def first_record(tmp_path: Path) -> dict[str, Any]:
    import sqlite3

    with sqlite3.connect(tmp_path / "state" / "state.db") as connection:
        seq, prev, digest, entry, signature = connection.execute(
            "SELECT seq, prev_hash, hash, entry, signature FROM pom_audit WHERE seq = 1"
        ).fetchone()
    return {"seq": seq, "prev": prev, "hash": digest, "entry": json.loads(entry), "sig": signature}


async def test_a_receipt_whose_decision_another_key_signed_is_refused(
    exported: tuple[Path, str, str], tmp_path: Path
) -> None:
    out, _, jwk = exported
    key = SigningKey.from_text((tmp_path / "state" / KEY_FILE).read_text(), "test")
    other = SigningKey.generate()
    claims = payload(out.read_text())
    claims["decision"] = other.sign(payload(claims["decision"]), "pom-decision+jws")
    forged = tmp_path / "forged.jws"
    forged.write_text(key.sign(claims, "pom-receipt+jws"))
    refused = audit("receipt", "--verify", str(forged), "--public-key", jwk)
    assert refused.stdout == (
        f"receipt REFUSED: the decision inside the receipt does not check out: it was signed by another key (key id "
        f"{other.kid}).\n"
    )
