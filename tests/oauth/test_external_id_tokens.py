"""The console's sign-in through the provider checks the ID token it comes back with: for this sign-in (nonce),
issued to this server (aud, azp), by the provider, signed with its key."""

from __future__ import annotations

from typing import Any

import pytest

from polar_orders_mcp.approvals import oidc
from polar_orders_mcp.oauth.provider import Provider
from tests.oauth.local_idp import LocalIdp

pytestmark = pytest.mark.anyio

CLIENT = "polar-mcp"


def sign_in(idp: LocalIdp) -> oidc.OidcSignIn:
    provider = Provider(idp.issuer, transport=idp.transport)
    return oidc.OidcSignIn(
        provider,
        client_id=CLIENT,
        client_secret="s" * 24,
        algorithms=("RS256",),
        name_claim="preferred_username",
        approvers=("ada",),
    )


async def test_the_id_token_of_this_sign_in_is_taken() -> None:
    idp = LocalIdp()
    claims = await sign_in(idp)._id_token(idp.token(aud=CLIENT, nonce="n-1", azp=CLIENT), "n-1")
    assert claims["preferred_username"] == "ada"


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"nonce": "n-2"}, "the ID token is not for this sign-in (nonce); start again"),
        ({"nonce": None}, "the ID token is not for this sign-in (nonce); start again"),
        ({"azp": "another-client"}, "the ID token was issued to another client (azp)"),
        ({"aud": "another-client"}, "the ID token is not valid (InvalidAudienceError)"),
        ({"iss": "https://elsewhere.example.test"}, "the ID token is not valid (InvalidIssuerError)"),
    ],
)
async def test_an_id_token_not_for_this_sign_in_signs_nobody_in(changes: dict[str, Any], said: str) -> None:
    idp = LocalIdp()
    token = idp.token(**{"aud": CLIENT, "nonce": "n-1", **changes})
    with pytest.raises(oidc.Refused) as refused:
        await sign_in(idp)._id_token(token, "n-1")
    assert str(refused.value) == said
