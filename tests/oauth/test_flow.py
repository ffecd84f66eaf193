"""The authorization code flow through the real routes: what it grants, and each refusal with its exact error."""

from __future__ import annotations

import logging
from urllib.parse import parse_qs, urlsplit

import pytest

from polar_orders_mcp.oauth.grants import Person
from tests.oauth.conftest import ADA, BASE, BOB, REDIRECT, Server, csrf_of, pkce

pytestmark = pytest.mark.anyio


def query(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def test_metadata_names_the_endpoints_scopes_and_metadata_documents(server: Server) -> None:
    metadata = (await server.http.get("/.well-known/oauth-authorization-server")).json()
    assert metadata["issuer"] == BASE
    assert metadata["authorization_endpoint"] == f"{BASE}/authorize"
    assert metadata["registration_endpoint"] == f"{BASE}/register"
    assert metadata["scopes_supported"] == ["polar:read", "polar:write", "polar:money"]
    assert metadata["client_id_metadata_document_supported"] is True
    assert metadata["code_challenge_methods_supported"] == ["S256"]


async def test_a_code_becomes_tokens_that_grant_the_person_the_scopes(server: Server) -> None:
    client_id = await server.register()
    tokens = await server.tokens(client_id)
    assert tokens["scope"] == "polar:read polar:write" and tokens["expires_in"] == 3600
    grant = await server.verifier.verify(tokens["access_token"])
    assert grant is not None
    assert grant.client == f"oauth:{client_id}" and grant.scopes == {"polar:read", "polar:write"}
    assert grant.person == Person(subject="ada", name="ada", issuer=BASE)
    assert grant.allows("write") and not grant.allows("irreversible")
    assert await server.verifier.verify(tokens["refresh_token"]) is None


async def test_the_redirect_carries_the_state_and_the_issuer(server: Server) -> None:
    client_id = await server.register()
    _, challenge = pkce()
    started = await server.authorize(client_id, challenge)
    signed = await server.sign_in(started.headers["location"])
    decided = await server.decide(signed.headers["location"])
    assert decided.headers["location"].startswith(REDIRECT + "?")
    answer = query(decided.headers["location"])
    assert answer["state"] == "st-1" and answer["iss"] == BASE and len(answer["code"]) >= 40


async def test_a_replayed_code_is_refused_and_revokes_the_tokens_issued_with_it(server: Server) -> None:
    client_id = await server.register()
    verifier, challenge = pkce()
    code = await server.code_for(client_id, challenge)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": client_id,
        "code_verifier": verifier,
        "redirect_uri": REDIRECT,
    }
    first = (await server.token(**form)).json()
    again = await server.token(**form)
    assert again.status_code == 400
    assert again.json() == {"error": "invalid_grant", "error_description": "authorization code does not exist"}
    assert await server.verifier.verify(first["access_token"]) is None
    refreshed = await server.token(
        grant_type="refresh_token", refresh_token=first["refresh_token"], client_id=client_id
    )
    assert refreshed.json()["error"] == "invalid_grant"


async def test_a_wrong_code_verifier_is_refused(server: Server) -> None:
    client_id = await server.register()
    _, challenge = pkce()
    code = await server.code_for(client_id, challenge)
    other, _ = pkce()
    answer = await server.token(
        grant_type="authorization_code", code=code, client_id=client_id, code_verifier=other, redirect_uri=REDIRECT
    )
    assert answer.status_code == 400
    assert answer.json() == {"error": "invalid_grant", "error_description": "incorrect code_verifier"}


async def test_an_unregistered_redirect_uri_gets_an_error_and_no_redirect(server: Server) -> None:
    client_id = await server.register()
    _, challenge = pkce()
    answer = await server.authorize(client_id, challenge, redirect_uri="https://evil.example/callback")
    assert answer.status_code == 400 and "location" not in answer.headers
    assert answer.json()["error_description"] == (
        "Redirect URI 'https://evil.example/callback' not registered for client"
    )


async def test_an_unknown_client_gets_a_page_and_no_redirect(server: Server) -> None:
    _, challenge = pkce()
    answer = await server.authorize("nobody", challenge)
    assert answer.status_code == 400 and "location" not in answer.headers
    assert "No client &#x27;nobody&#x27; is registered here." in answer.text
    assert answer.headers["x-frame-options"] == "DENY"


async def test_a_resource_of_another_server_is_refused_as_invalid_target(server: Server) -> None:
    client_id = await server.register()
    _, challenge = pkce()
    answer = await server.authorize(client_id, challenge, resource="https://other.example/mcp")
    assert answer.status_code == 302
    assert query(answer.headers["location"]) == {
        "error": "invalid_target",
        "error_description": f"This server issues tokens for {BASE}/mcp only, not for https://other.example/mcp: "
        f"ask for resource={BASE}/mcp.",
        "state": "st-1",
    }


async def test_a_scope_outside_the_list_is_refused(server: Server) -> None:
    client_id = await server.register()
    _, challenge = pkce()
    answer = await server.authorize(client_id, challenge, scope="polar:read polar:admin")
    assert query(answer.headers["location"]) == {
        "error": "invalid_scope",
        "error_description": "Client was not registered with scope polar:admin",
        "state": "st-1",
    }


async def test_a_refresh_rotates_and_never_grants_more_than_the_grant(server: Server) -> None:
    client_id = await server.register()
    tokens = await server.tokens(client_id, scope="polar:read")
    more = await server.token(
        grant_type="refresh_token",
        refresh_token=tokens["refresh_token"],
        client_id=client_id,
        scope="polar:read polar:money",
    )
    assert more.status_code == 400
    assert more.json() == {
        "error": "invalid_scope",
        "error_description": "cannot request scope `polar:money` not provided by refresh token",
    }
    fresh = await server.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"], client_id=client_id)
    assert fresh.status_code == 200 and fresh.json()["refresh_token"] != tokens["refresh_token"]
    assert (await server.verifier.verify(fresh.json()["access_token"])).scopes == {"polar:read"}  # type: ignore[union-attr]


async def test_a_rotated_refresh_token_used_again_revokes_the_family(server: Server) -> None:
    client_id = await server.register()
    tokens = await server.tokens(client_id)
    fresh = (
        await server.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"], client_id=client_id)
    ).json()
    again = await server.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"], client_id=client_id)
    assert again.status_code == 400 and again.json() == {
        "error": "invalid_grant",
        "error_description": "This refresh token was used already (each one works once): every token of this grant "
        "is now revoked; authorize again.",
    }
    assert await server.verifier.verify(fresh["access_token"]) is None
    assert await server.verifier.verify(tokens["access_token"]) is None
    later = await server.token(grant_type="refresh_token", refresh_token=fresh["refresh_token"], client_id=client_id)
    assert later.json() == {"error": "invalid_grant", "error_description": "refresh token does not exist"}


async def test_revoking_either_token_revokes_both(server: Server) -> None:
    client_id = await server.register()
    for kind in ("access_token", "refresh_token"):
        tokens = await server.tokens(client_id)
        # A public client sends no client_secret (RFC 7009); the SDK's handler alone would answer 400.
        form = {"token": tokens[kind], "client_id": client_id}
        answer = await server.http.post("/revoke", data=form)
        assert answer.status_code == 200
        assert await server.verifier.verify(tokens["access_token"]) is None
        refreshed = await server.token(
            grant_type="refresh_token", refresh_token=tokens["refresh_token"], client_id=client_id
        )
        assert refreshed.json() == {"error": "invalid_grant", "error_description": "refresh token does not exist"}


async def test_an_expired_access_token_grants_nothing(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    client_id = await server.register()
    tokens = await server.tokens(client_id)
    assert await server.verifier.verify(tokens["access_token"]) is not None
    now = server.store.now()
    monkeypatch.setattr(server.store, "now", lambda: now + 3601)
    assert await server.verifier.verify(tokens["access_token"]) is None


async def test_a_token_for_another_resource_grants_nothing(server: Server) -> None:
    client_id = await server.register()
    tokens = await server.tokens(client_id)
    moved = server.settings.model_copy(update={"public_url": "https://moved.example"})
    server.verifier._e.settings = moved
    assert await server.verifier.verify(tokens["access_token"]) is None


async def test_a_person_without_the_role_use_cannot_sign_in(server: Server) -> None:
    client_id = await server.register()
    _, challenge = pkce()
    started = await server.authorize(client_id, challenge)
    answer = await server.sign_in(started.headers["location"], secret=BOB)
    assert answer.status_code == 403
    assert (
        "bob may approve in the approval console but may not connect clients: ask the operator to give bob the "
        "role use (POLAR_MCP_ROLES=bob=use+approve)."
    ) in answer.text


async def test_a_wrong_secret_is_refused_and_counted(server: Server) -> None:
    client_id = await server.register()
    _, challenge = pkce()
    started = await server.authorize(client_id, challenge)
    answer = await server.sign_in(started.headers["location"], secret="not-" + ADA)
    assert answer.status_code == 401 and "That is not the secret of anyone on this server." in answer.text
    assert answer.headers["content-security-policy"].endswith("frame-ancestors 'none'; base-uri 'none'")


async def test_a_consent_without_its_csrf_token_is_refused(server: Server) -> None:
    client_id = await server.register()
    _, challenge = pkce()
    started = await server.authorize(client_id, challenge)
    signed = await server.sign_in(started.headers["location"])
    request_id = query(signed.headers["location"])["request"]
    answer = await server.post("/oauth/consent", {"request": request_id, "decision": "allow"})
    assert answer.status_code == 403 and "The consent form was out of date: reload it and decide again." in answer.text
    assert "location" not in answer.headers


async def test_a_sign_in_without_its_csrf_token_is_refused(server: Server) -> None:
    client_id = await server.register()
    _, challenge = pkce()
    started = await server.authorize(client_id, challenge)
    request_id = query(started.headers["location"])["request"]
    await server.http.get(started.headers["location"])
    answer = await server.post("/oauth/sign-in", {"request": request_id, "secret": ADA})
    assert answer.status_code == 403 and "The sign-in form was out of date: try again." in answer.text


async def test_a_consent_from_another_browser_is_refused(server: Server) -> None:
    client_id = await server.register()
    _, challenge = pkce()
    started = await server.authorize(client_id, challenge)
    signed = await server.sign_in(started.headers["location"])
    page = await server.http.get(signed.headers["location"])
    server.http.cookies.clear()
    form = {"request": query(signed.headers["location"])["request"], "csrf": csrf_of(page.text), "decision": "allow"}
    answer = await server.post("/oauth/consent", form)
    assert answer.status_code == 401 and "Sign in first, in this browser." in answer.text


async def test_deny_returns_access_denied_with_the_state(server: Server) -> None:
    client_id = await server.register()
    _, challenge = pkce()
    started = await server.authorize(client_id, challenge)
    signed = await server.sign_in(started.headers["location"])
    decided = await server.decide(signed.headers["location"], "deny")
    assert query(decided.headers["location"]) == {
        "error": "access_denied",
        "error_description": "The person declined.",
        "state": "st-1",
        "iss": BASE,
    }


async def test_the_consent_page_names_client_person_return_host_and_scopes(server: Server) -> None:
    client_id = await server.register(client_name="<b>Desk</b>")
    _, challenge = pkce()
    started = await server.authorize(client_id, challenge)
    signed = await server.sign_in(started.headers["location"])
    page = await server.http.get(signed.headers["location"])
    assert "&lt;b&gt;Desk&lt;/b&gt;" in page.text and "<b>Desk</b>" not in page.text
    assert "unverified, registered by the client itself" in page.text
    assert "<strong>ada</strong>" in page.text and "<strong>127.0.0.1:33418</strong>" in page.text
    assert "create and change drafts, checkouts and links (no money moves)" in page.text
    assert page.headers["x-frame-options"] == "DENY"
    assert "form-action 'self' http://127.0.0.1:33418;" in page.headers["content-security-policy"]


async def test_the_sign_in_cookies_are_httponly_strict_and_scoped(server: Server) -> None:
    client_id = await server.register()
    _, challenge = pkce()
    started = await server.authorize(client_id, challenge)
    signed = await server.sign_in(started.headers["location"])
    cookie = next(c for c in signed.headers.get_list("set-cookie") if c.startswith("pom_oauth="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/oauth" in cookie


async def test_registration_off_means_no_register_endpoint_and_no_registered_clients(store: object) -> None:
    from tests.oauth.conftest import make_settings, serve

    server = await serve(make_settings(oauth_registration=False), store)  # type: ignore[arg-type]
    async with server.http:
        answer = await server.http.post("/register", json={"redirect_uris": [REDIRECT]})
        metadata = (await server.http.get("/.well-known/oauth-authorization-server")).json()
    assert answer.status_code == 404 and "registration_endpoint" not in metadata


async def test_a_registration_with_an_http_redirect_off_loopback_is_refused(server: Server) -> None:
    answer = await server.http.post("/register", json={"redirect_uris": ["http://desk.example/cb"]})
    assert answer.status_code == 400 and answer.json() == {
        "error": "invalid_redirect_uri",
        "error_description": "Redirect URI 'http://desk.example/cb' is refused: use https, http on localhost, or the "
        "app's own scheme, without a fragment.",
    }


async def test_a_person_whose_role_use_is_withdrawn_loses_the_tokens_they_had(server: Server) -> None:
    client_id = await server.register()
    tokens = await server.tokens(client_id)
    assert await server.verifier.verify(tokens["access_token"]) is not None
    server.verifier._e.settings = server.settings.model_copy(update={"roles": "ada=approve"})
    assert await server.verifier.verify(tokens["access_token"]) is None


async def test_a_consent_after_the_role_use_was_withdrawn_is_refused(server: Server) -> None:
    client_id = await server.register()
    _, challenge = pkce()
    started = await server.authorize(client_id, challenge)
    signed = await server.sign_in(started.headers["location"])
    page = await server.http.get(signed.headers["location"])
    server.verifier._e.settings = server.settings.model_copy(update={"roles": "ada=approve"})
    form = {"request": query(signed.headers["location"])["request"], "csrf": csrf_of(page.text), "decision": "allow"}
    answer = await server.post("/oauth/consent", form)
    assert answer.status_code in (401, 403) and "location" not in answer.headers


async def test_no_secret_token_or_code_is_logged(server: Server, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client_id = await server.register()
    verifier, challenge = pkce()
    code = await server.code_for(client_id, challenge)
    tokens = (
        await server.token(
            grant_type="authorization_code",
            code=code,
            client_id=client_id,
            code_verifier=verifier,
            redirect_uri=REDIRECT,
        )
    ).json()
    refreshed = (
        await server.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"], client_id=client_id)
    ).json()
    await server.verifier.verify("pom_at_" + "x" * 40)
    await server.token(
        grant_type="authorization_code", code=code, client_id=client_id, code_verifier=verifier, redirect_uri=REDIRECT
    )  # a replay, refused and logged
    logged = caplog.text
    for secret in (ADA, code, verifier, tokens["access_token"], tokens["refresh_token"], refreshed["access_token"]):
        assert secret not in logged
