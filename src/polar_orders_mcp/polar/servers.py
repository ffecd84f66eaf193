"""What a Polar server is: "production", "sandbox", or the base URL of one (an emulator, a proxy).

The one check of it: the settings validate `POLAR_SERVER` with it at start, and the client
resolves its base URL with it, so nothing accepted at start fails on the first call.
"""

from __future__ import annotations

from urllib.parse import urlsplit

SERVERS = {"production": "https://api.polar.sh", "sandbox": "https://sandbox-api.polar.sh"}
EXPECTED = "'production', 'sandbox', or a base URL such as https://sandbox-api.polar.sh or http://127.0.0.1:8080"


def resolve_server(server: str) -> tuple[str, str]:
    """(environment, base URL) for "production", "sandbox" or an http(s) URL ("custom"); ValueError otherwise."""
    name = server.strip()
    if name in SERVERS:
        return name, SERVERS[name]
    parts = urlsplit(name)
    problem = None
    if parts.scheme not in ("http", "https"):
        problem = "it does not start with http:// or https://"
    elif not parts.hostname:
        problem = "it has no host name"
    elif parts.username is not None or parts.password is not None:
        problem = "it holds a user name or password: the token goes in POLAR_ACCESS_TOKEN"
    elif parts.query or parts.fragment or any(ch.isspace() for ch in name):
        problem = "it has a query, a fragment or spaces"
    else:
        try:
            parts.port  # noqa: B018  # urlsplit checks the port only when it is read
        except ValueError:
            problem = "its port is not a number from 0 to 65535"
    if problem:
        # The value is only shown when it cannot hold a credential.
        shown = "" if "@" in name else f" {server!r}"
        raise ValueError(f"must be {EXPECTED}; the value{shown} is not one: {problem}")
    base_url = name.rstrip("/")
    for environment, url in SERVERS.items():
        if base_url == url:
            return environment, url
    return "custom", base_url
