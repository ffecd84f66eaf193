"""The authorization server's pages: sign in, consent, and what went wrong; every value escaped here."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from urllib.parse import urlsplit

from polar_orders_mcp.approvals.pages import CSS
from polar_orders_mcp.oauth.grants import WHAT_SCOPE_ALLOWS


@dataclass(frozen=True)
class ClientLabel:
    """How the consent page names a client: what is verified about it, and what it only says of itself."""

    verified: str | None
    """A metadata document's host: whoever serves that site published the document."""
    claimed: str | None
    """The client_name it gave itself."""
    client_id: str
    registered: bool


def return_place(redirect_uri: str) -> str:
    """Where the browser goes after the decision: the redirect URI's host, or its scheme for an app's own."""
    parts = urlsplit(redirect_uri)
    if parts.scheme in ("http", "https"):
        return parts.netloc
    return f"the app that handles {parts.scheme}: links"


def page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)} · Polar orders</title><style>{CSS}</style></head><body>"
        '<header><div class="brand">Polar orders · connect a client</div></header>'
        f"<main>{body}</main></body></html>"
    )


def _client(label: ClientLabel) -> str:
    if label.verified is not None:
        rows = f"<dt>Verified identity</dt><dd>the site <strong>{escape(label.verified)}</strong></dd>"
        if label.claimed:
            rows += f'<dt>Calls itself</dt><dd>{escape(label.claimed)}<span class="tag">self-asserted</span></dd>'
        return rows
    name = escape(label.claimed or "(no name)")
    return (
        f'<dt>Client</dt><dd>{name}<span class="tag">unverified, registered by the client itself</span></dd>'
        f'<dt>Client id</dt><dd><span class="customer">{escape(label.client_id)}</span></dd>'
    )


def sign_in(*, request_id: str, csrf: str, client: ClientLabel, error: str | None) -> str:
    problem = f'<div class="error">{escape(error)}</div>' if error else ""
    body = (
        "<h1>Sign in to connect a client</h1>"
        f'<div class="card"><dl>{_client(client)}</dl></div>'
        "<p>Sign in with the secret this server's operator gave you. The client never sees it.</p>"
        f'{problem}<form class="login card" method="post" action="/oauth/sign-in">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        f'<input type="hidden" name="request" value="{escape(request_id)}">'
        '<label for="secret">Your secret</label>'
        '<input id="secret" name="secret" type="password" autocomplete="current-password" required>'
        '<div class="actions"><button class="approve" type="submit">Sign in</button></div></form>'
    )
    return page("Sign in", body)


def consent(
    *, request_id: str, csrf: str, client: ClientLabel, person: str, redirect_uri: str, scopes: list[str]
) -> str:
    asked = "".join(
        f'<dt><span class="customer">{escape(s)}</span></dt><dd>{escape(WHAT_SCOPE_ALLOWS.get(s, s))}</dd>'
        for s in scopes
    )
    body = (
        "<h1>Let this client act for you?</h1>"
        f'<div class="card"><dl>{_client(client)}'
        f"<dt>Acting for</dt><dd><strong>{escape(person)}</strong></dd>"
        f"<dt>Returns you to</dt><dd><strong>{escape(return_place(redirect_uri))}</strong></dd></dl></div>"
        f'<h2>It asks to</h2><div class="card"><dl>{asked}</dl></div>'
        '<form class="card" method="post" action="/oauth/consent">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        f'<input type="hidden" name="request" value="{escape(request_id)}">'
        "<p>Allow only a client you started connecting yourself, just now.</p>"
        '<div class="actions"><button class="approve" type="submit" name="decision" value="allow">Allow</button>'
        '<button class="deny" type="submit" name="decision" value="deny">Deny</button></div></form>'
    )
    return page("Allow access", body)


def problem(title: str, text: str) -> str:
    return page(title, f'<h1>{escape(title)}</h1><div class="error">{escape(text)}</div>')
