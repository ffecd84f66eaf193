"""Passkeys (WebAuthn) for approval decisions: what needs one, what a challenge covers, and checking them.

A decision's challenge is derived from the approval itself (its id, the digest of the facts shown, the
decision) and a single-use nonce the console served with the page, so an assertion signs exactly these facts,
for this approval, once. The origin and RP ID come from the console's configured address, never from a request.
All WebAuthn parsing and signature checks are py_webauthn's, imported when first needed (it takes a tenth of
a second, which a server that never uses passkeys need not pay at every start).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
from dataclasses import dataclass, field, replace
from typing import Literal
from urllib.parse import urlsplit

from polar_orders_mcp.approvals.limits import ApprovalProof, Limits
from polar_orders_mcp.store.records import Approval, Passkey, Proven

log = logging.getLogger(__name__)

DECISION_TAG = "polar-orders-mcp approval decision v1"
ENROL_TAG = "polar-orders-mcp passkey enrolment v1"
MANDATE_TAG = "polar-orders-mcp standing approval v1"
NONCE_TTL = 900.0
"""Seconds a page's passkey nonce stays good: as long as an approval request stays open by default."""
RP_NAME = "Polar approvals"


@dataclass(frozen=True)
class PasskeyPolicy:
    """Which approvals need a passkey: every one (`proof="passkey"`), or those moving more than `above`."""

    proof: ApprovalProof = "secret"
    above: Limits = field(default_factory=Limits)

    def needs(self, amount: int | None, currency: str | None) -> bool:
        if self.proof == "passkey":
            return True
        threshold = self.above.of(currency)
        return threshold is not None and amount is not None and amount > threshold

    def needs_for(self, approval: Approval) -> bool:
        return self.needs(approval.amount, approval.currency)

    def __bool__(self) -> bool:
        return self.proof == "passkey" or bool(self.above)


@dataclass(frozen=True)
class Site:
    """Where passkeys are made and used: the RP ID (a host name) and the console's exact origin."""

    rp_id: str
    origin: str


def site_of(base_url: str | None) -> Site | str:
    """The passkey site of a console at `base_url`, or why a browser would refuse passkeys there."""
    if not base_url:
        return (
            "passkeys need the console's own address, which is not known: start the server with --console-url "
            "(e.g. https://mcp.example.com/approvals)."
        )
    parts = urlsplit(base_url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        return f"{base_url} is not an http(s) address."
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return (
            f"browsers refuse passkeys on an IP address ({host}): use a host name for the console, such as "
            "localhost or the server's public name."
        )
    local = host == "localhost" or host.endswith(".localhost")
    if parts.scheme == "http" and not local:
        return f"browsers offer passkeys only over https (or on localhost), and the console is at {base_url}."
    default = {"http": 80, "https": 443}[parts.scheme]
    port = "" if parts.port in (None, default) else f":{parts.port}"
    return Site(rp_id=host, origin=f"{parts.scheme}://{host}{port}")


class PasskeyRefused(Exception):
    """A passkey, or what it signed, that does not prove what it is asked to prove; the text says why."""


def decision_challenge(approval_id: str, digest: str, decision: str, nonce: str) -> bytes:
    """What a passkey signs to decide: this approval, the facts shown (their digest), the decision, and the
    page's single-use nonce."""
    covered = json.dumps([DECISION_TAG, approval_id, digest, decision, nonce], separators=(",", ":"))
    return hashlib.sha256(covered.encode()).digest()


def enrol_challenge(approver: str, nonce: str) -> bytes:
    return hashlib.sha256(json.dumps([ENROL_TAG, approver, nonce], separators=(",", ":")).encode()).digest()


def user_handle(approver: str) -> bytes:
    """The approver's stable WebAuthn user id: not their name, which the authenticator shows anyway."""
    return hashlib.sha256(f"polar-orders-mcp approver\n{approver}".encode()).digest()[:32]


def registration_options(site: Site, approver: str, nonce: str, existing: list[Passkey]) -> str:
    """The options for navigator.credentials.create, as JSON (binary fields base64url)."""
    from webauthn import generate_registration_options, options_to_json
    from webauthn.helpers import base64url_to_bytes
    from webauthn.helpers.structs import (
        AuthenticatorSelectionCriteria,
        PublicKeyCredentialDescriptor,
        ResidentKeyRequirement,
        UserVerificationRequirement,
    )

    options = generate_registration_options(
        rp_id=site.rp_id,
        rp_name=RP_NAME,
        user_name=approver,
        user_id=user_handle(approver),
        user_display_name=approver,
        challenge=enrol_challenge(approver, nonce),
        timeout=120_000,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[PublicKeyCredentialDescriptor(id=base64url_to_bytes(p.credential_id)) for p in existing],
    )
    return options_to_json(options)


def verify_enrolment(credential: str, *, site: Site, approver: str, nonce: str, name: str, now: float) -> Passkey:
    """The passkey a navigator.credentials.create answer registers, checked (origin, RP ID, user verification,
    this page's challenge). Raises PasskeyRefused."""
    from webauthn import verify_registration_response
    from webauthn.helpers import bytes_to_base64url

    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=enrol_challenge(approver, nonce),
            expected_rp_id=site.rp_id,
            expected_origin=site.origin,
            require_user_verification=True,
        )
    except Exception as exc:  # every failure to parse or verify refuses: nothing is registered
        log.info("passkey enrolment refused: %s", exc)
        raise PasskeyRefused(f"the new passkey could not be verified ({_said(exc)}).") from exc
    return Passkey(
        credential_id=bytes_to_base64url(verified.credential_id),
        approver=approver,
        public_key=bytes_to_base64url(verified.credential_public_key),
        sign_count=verified.sign_count,
        name=name,
        created_at=now,
    )


def assertion_id(assertion: str) -> str:
    """The credential id an assertion names, before anything is checked ("" when there is none)."""
    try:
        found = json.loads(assertion).get("id")
    except (ValueError, AttributeError):
        return ""
    return found if isinstance(found, str) else ""


def verify_decision(
    assertion: str,
    *,
    site: Site,
    approval: Approval,
    decision: Literal["approve", "deny"],
    nonce: str,
    passkey: Passkey | None,
    approver: str,
) -> Proven:
    """A decision proven by a navigator.credentials.get answer: made on this console's origin for its RP ID
    with user verification, signing this approval's challenge, by a passkey of this approver that is not
    removed, with a count that moved on. Raises PasskeyRefused."""
    challenge = decision_challenge(approval.id, approval.digest, decision, nonce)
    proven = _verified(
        assertion,
        site=site,
        challenge=challenge,
        nonce=nonce,
        passkey=passkey,
        approver=approver,
        what="this decision",
        about=approval.id,
    )
    proven.proof.update(decision=decision)
    return replace(proven, approve=decision == "approve")


def mandate_challenge(digest: str, hours: int, nonce: str) -> bytes:
    """What a passkey signs to make a standing approval: its terms (their digest), how many hours it lasts, and the
    page's single-use nonce."""
    covered = json.dumps([MANDATE_TAG, digest, hours, nonce], separators=(",", ":"))
    return hashlib.sha256(covered.encode()).digest()


def verify_mandate(
    assertion: str, *, site: Site, digest: str, hours: int, nonce: str, passkey: Passkey | None, approver: str
) -> Proven:
    """A standing approval signed with a passkey, checked as a decision is (this console's origin and RP ID, user
    verification, a passkey of this approver not removed, a count that moved on), over the challenge of these
    terms. Raises PasskeyRefused."""
    proven = _verified(
        assertion,
        site=site,
        challenge=mandate_challenge(digest, hours, nonce),
        nonce=nonce,
        passkey=passkey,
        approver=approver,
        what="these terms",
        about=digest[:12],
    )
    proven.proof.update(digest=digest, hours=hours)
    return proven


def _verified(
    assertion: str,
    *,
    site: Site,
    challenge: bytes,
    nonce: str,
    passkey: Passkey | None,
    approver: str,
    what: str,
    about: str,
) -> Proven:
    """A navigator.credentials.get answer over `challenge`, verified, as the proof to store. Raises PasskeyRefused."""
    from webauthn import verify_authentication_response
    from webauthn.helpers import base64url_to_bytes

    if passkey is None or passkey.approver != approver:
        raise PasskeyRefused("that passkey is not one of yours here: use one listed on your Passkeys page.")
    if passkey.removed_at is not None:
        raise PasskeyRefused("that passkey was removed: use another one listed on your Passkeys page.")
    try:
        parsed = json.loads(assertion)
        verified = verify_authentication_response(
            credential=parsed,
            expected_challenge=challenge,
            expected_rp_id=site.rp_id,
            expected_origin=site.origin,
            credential_public_key=base64url_to_bytes(passkey.public_key),
            credential_current_sign_count=passkey.sign_count,
            require_user_verification=True,
        )
        response = parsed["response"]
        proof = {
            "credential_id": passkey.credential_id,
            "authenticator_data": response["authenticatorData"],
            "client_data_json": response["clientDataJSON"],
            "signature": response["signature"],
            "user_handle": response.get("userHandle"),
        }
    except Exception as exc:  # every failure to parse or verify refuses: nothing is decided
        log.info("passkey answer for %s refused: %s", about, exc)
        raise PasskeyRefused(f"your passkey's answer does not prove {what} ({_said(exc)}).") from exc
    proof.update(nonce=nonce, rp_id=site.rp_id, origin=site.origin)
    return Proven(
        approve=True,
        credential_id=passkey.credential_id,
        sign_count=verified.new_sign_count,
        seen=passkey.sign_count,
        proof=proof,
    )


def recheck(approval: Approval, passkey: Passkey | None, site: Site) -> str | None:
    """Why the passkey proof stored with an approval does not prove that its approver approved exactly these
    facts on this console, as read now (removed passkeys no longer prove anything); None when it does."""
    from webauthn import verify_authentication_response
    from webauthn.helpers import base64url_to_bytes

    proof = approval.proof
    if proof is None:
        return "it carries no passkey proof"
    if passkey is None:  # looked up by the proof's credential id: its public key checks the signature below
        return "the passkey it was approved with is not known here"
    if passkey.removed_at is not None:
        return f"the passkey it was approved with ({passkey.name}) was removed since"
    if passkey.approver != approval.decided_by:  # the decision itself is in the signed challenge
        return "its passkey proof is not its approver's approval"
    credential = {
        "id": passkey.credential_id,
        "rawId": passkey.credential_id,
        "type": "public-key",
        "response": {
            "authenticatorData": proof.get("authenticator_data"),
            "clientDataJSON": proof.get("client_data_json"),
            "signature": proof.get("signature"),
        },
    }
    try:
        verify_authentication_response(
            credential=credential,
            expected_challenge=decision_challenge(approval.id, approval.digest, "approve", str(proof.get("nonce"))),
            expected_rp_id=site.rp_id,
            expected_origin=site.origin,
            credential_public_key=base64url_to_bytes(passkey.public_key),
            credential_current_sign_count=0,  # the count was checked when it was made; this checks the signature
            require_user_verification=True,
        )
    except Exception as exc:  # anything that does not verify stops the act
        log.warning("the passkey proof of %s does not verify: %s", approval.id, exc)
        return f"its passkey proof does not verify ({_said(exc)})"
    return None


def _said(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]
