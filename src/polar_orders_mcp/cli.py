"""The command line: serve (default), emulator, demo."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

from polar_orders_mcp import __version__
from polar_orders_mcp.approvals.limits import APPROVAL_PROOFS, CONFIRM_MODES
from polar_orders_mcp.stderr import say
from polar_orders_mcp.tools.toolsets import toolsets_help

COMMANDS = ("serve", "emulator", "demo", "audit", "passkeys")
# Loggers that would write request or result payloads (customer data, audit entries) at DEBUG.
PAYLOAD_LOGGERS = {
    "httpx2": logging.WARNING, "sse_starlette": logging.INFO, "mcp.server.sse": logging.INFO,
    "aiosqlite": logging.INFO, "sqlalchemy.engine": logging.WARNING, "asyncpg": logging.INFO,
}


def _csv(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="polar-orders-mcp",
        description="MCP server for Polar.sh orders and checkouts. Commands: serve (default), "
        "emulator (serve the local Polar emulator over HTTP), demo (a scripted session on the emulator), "
        "audit (verify or show the audit chain), passkeys (list the approvers' passkeys, or reset one's).",
        epilog="Every server option: polar-orders-mcp serve --help. Secrets (POLAR_ACCESS_TOKEN, "
        "POLAR_MCP_HTTP_TOKEN, POLAR_MCP_HTTP_TOKENS, POLAR_MCP_APPROVER_TOKEN, POLAR_MCP_APPROVERS, "
        "POLAR_MCP_CONFIRM_SECRET, POLAR_MCP_REQUEST_STATE_KEYS, POLAR_MCP_DATABASE_URL, POLAR_MCP_SIGNING_KEY) "
        "are read from the environment only, so they never show in a process list.",
    )
    parser.add_argument("--version", action="version", version=f"polar-orders-mcp {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{serve,emulator,demo,audit,passkeys}")

    serve = sub.add_parser(
        "serve", help="serve MCP over stdio (the default command)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"toolsets (--toolsets):\n{toolsets_help()}\n\n{_environment_only()}",
    )
    serve.add_argument("--emulator", action="store_true", default=None,
                       help="run against the embedded Polar emulator: no token, no network [POLAR_MCP_EMULATOR]")
    serve.add_argument("--emulator-orders", type=int, metavar="N",
                       help="orders seeded in the embedded emulator (default 60) [POLAR_MCP_EMULATOR_ORDERS]")
    serve.add_argument("--customer-session", metavar="TOKEN",
                       help="act for one customer with their session token (polar_cst_...); prefer the "
                       "environment variable [POLAR_CUSTOMER_SESSION]")
    serve.add_argument("--server", metavar="ENV_OR_URL",
                       help="production (default), sandbox, or a base URL [POLAR_SERVER]")
    serve.add_argument("--api-version", metavar="VERSION",
                       help="Polar-Version header (default 2026-10) [POLAR_API_VERSION]")
    serve.add_argument("--confirm", choices=[*CONFIRM_MODES, "token"], metavar="MODE",
                       help="how a person approves irreversible calls: auto (default: in the client when it "
                       "can ask, else the approval console), elicit (only in the client), console (only the "
                       "console), relay (the model relays a token: it can approve by itself), off (nobody) "
                       "[POLAR_MCP_CONFIRM]")
    serve.add_argument("--approval-ttl", "--confirm-ttl", dest="approval_ttl", type=float, metavar="SECONDS",
                       help="how long a request waits for a decision, and an approval for its use "
                       "(default 900) [POLAR_MCP_APPROVAL_TTL]")
    serve.add_argument("--approval-wait", type=float, metavar="SECONDS",
                       help="how long a call waits for a decision once a person has the approval page "
                       "(default 60) [POLAR_MCP_APPROVAL_WAIT]")
    serve.add_argument("--approval-above", metavar="LIMITS",
                       help="above this amount only the approval console may approve, even when the client "
                       "could ask: usd=50000,eur=45000 or one number for any currency [POLAR_MCP_APPROVAL_ABOVE]")
    serve.add_argument("--approval-proof", choices=APPROVAL_PROOFS, metavar="PROOF",
                       help="what an approval in the console needs: secret (default: the approver signed in with "
                       "their secret) or passkey (also their passkey, signing the facts shown; never in the "
                       "client's form) [POLAR_MCP_APPROVAL_PROOF]")
    serve.add_argument("--passkey-above", metavar="LIMITS",
                       help="above this amount an approval needs the approver's passkey, in the console: "
                       "usd=50000,eur=45000 or one number for any currency [POLAR_MCP_PASSKEY_ABOVE]")
    serve.add_argument("--approvals-port", type=int, metavar="PORT",
                       help="stdio mode: loopback port of the approval console (default 8765, 0 = any) "
                       "[POLAR_MCP_APPROVALS_PORT]")
    serve.add_argument("--console-url", metavar="URL",
                       help="public address of the approval console in the links the server hands out "
                       "[POLAR_MCP_CONSOLE_URL]")
    serve.add_argument("--oauth", action="store_true", default=None,
                       help="OAuth 2.1 for HTTP clients (claude.ai, ChatGPT, Claude Desktop connectors) with the "
                       "embedded authorization server; static tokens keep working [POLAR_MCP_OAUTH]")
    serve.add_argument("--oauth-issuer", metavar="URL",
                       help="OAuth 2.1 with your identity provider instead: its issuer URL [POLAR_MCP_OAUTH_ISSUER]")
    serve.add_argument("--oauth-audience", metavar="AUD",
                       help="the audience the provider's tokens must carry (default: the resource URL) "
                       "[POLAR_MCP_OAUTH_AUDIENCE]")
    serve.add_argument("--oauth-jwks-url", metavar="URL",
                       help="the provider's JWKS (default: from its discovery document) [POLAR_MCP_OAUTH_JWKS_URL]")
    serve.add_argument("--oauth-introspection-url", metavar="URL",
                       help="check the provider's tokens by introspection (RFC 7662) instead of JWKS "
                       "[POLAR_MCP_OAUTH_INTROSPECTION_URL]")
    serve.add_argument("--oauth-client-id", metavar="ID",
                       help="this server's client id at the provider (introspection, console sign-in); its secret "
                       "in POLAR_MCP_OAUTH_CLIENT_SECRET [POLAR_MCP_OAUTH_CLIENT_ID]")
    serve.add_argument("--oauth-algorithms", type=_csv, metavar="A1,A2",
                       help="signature algorithms accepted (default RS256,PS256,ES256,EdDSA) "
                       "[POLAR_MCP_OAUTH_ALGORITHMS]")
    serve.add_argument("--oauth-name-claim", metavar="CLAIM",
                       help="the token claim that names the person (default preferred_username) "
                       "[POLAR_MCP_OAUTH_NAME_CLAIM]")
    serve.add_argument("--oauth-console", action="store_true", default=None,
                       help="approvers sign in to the console through the provider (OpenID Connect) "
                       "[POLAR_MCP_OAUTH_CONSOLE]")
    serve.add_argument("--public-url", metavar="URL",
                       help="the address clients reach this server at, e.g. https://mcp.example.com (default "
                       "http://localhost:PORT) [POLAR_MCP_PUBLIC_URL]")
    serve.add_argument("--roles", metavar="ROLES",
                       help="what each person may do: ada=approve,bob=use,carol=use+approve (unnamed: approve) "
                       "[POLAR_MCP_ROLES]")
    serve.add_argument("--oauth-access-ttl", type=int, metavar="SECONDS",
                       help="lifetime of the embedded server's access tokens (default 3600) "
                       "[POLAR_MCP_OAUTH_ACCESS_TTL]")
    serve.add_argument("--oauth-refresh-ttl", type=int, metavar="SECONDS",
                       help="lifetime of an unused refresh token (default 30 days) [POLAR_MCP_OAUTH_REFRESH_TTL]")
    serve.add_argument("--no-oauth-registration", dest="oauth_registration", action="store_false", default=None,
                       help="refuse Dynamic Client Registration (metadata documents still work) "
                       "[POLAR_MCP_OAUTH_REGISTRATION=false]")
    serve.add_argument("--oauth-private-metadata", action="store_true", default=None,
                       help="fetch client metadata documents from private addresses too "
                       "[POLAR_MCP_OAUTH_PRIVATE_METADATA]")
    serve.add_argument("--timezone", metavar="ZONE",
                       help="IANA time zone of the times people read in approvals, e.g. Europe/Paris (UTC is "
                       "shown beside; default: this machine's zone) [POLAR_MCP_TIMEZONE]")
    serve.add_argument("--state-dir", metavar="DIR",
                       help="where the embedded SQLite store lives (default ~/.local/state/polar-orders-mcp) "
                       "[POLAR_MCP_STATE_DIR]")
    serve.add_argument("--timeout", type=float, metavar="SECONDS",
                       help="Polar request timeout (default 30) [POLAR_MCP_TIMEOUT]")
    serve.add_argument("--max-retries", type=int, metavar="N",
                       help="retries for reads (default 3) [POLAR_MCP_MAX_RETRIES]")
    serve.add_argument("--read-only", action="store_true", default=None,
                       help="serve only read tools; wins over every other selection [POLAR_MCP_READ_ONLY]")
    serve.add_argument("--tools", type=_csv, metavar="T1,T2",
                       help="serve only these tools [POLAR_MCP_TOOLS]")
    serve.add_argument("--exclude-tools", type=_csv, metavar="T1,T2",
                       help="never serve these tools [POLAR_MCP_EXCLUDE_TOOLS]")
    serve.add_argument("--toolsets", type=_csv, metavar="S1,S2",
                       help="the groups of tools to serve (listed below); 'default' stands for the default "
                       "ones, 'all' for every one: default,subscriptions adds one [POLAR_MCP_TOOLSETS]")
    serve.add_argument("--max-charge", metavar="LIMITS",
                       help="refuse any single move of money above this, per currency in minor units: "
                       "usd=50000,eur=45000 (a currency left out is refused); a bare number or *=N applies to every "
                       "other currency [POLAR_MCP_MAX_CHARGE]")
    serve.add_argument("--max-daily", metavar="LIMITS",
                       help="refuse moves of money past this total in any 24 hours, per currency in minor "
                       "units: usd=200000 [POLAR_MCP_MAX_DAILY]")
    serve.add_argument("--allow-price-override", action="store_true", default=None,
                       help="let create_order set an amount that replaces the product's fixed price "
                       "[POLAR_MCP_ALLOW_PRICE_OVERRIDE]")
    serve.add_argument("--audit-log", metavar="FILE",
                       help="append audit JSON lines to FILE instead of stderr [POLAR_MCP_AUDIT_LOG]")
    serve.add_argument("--transport", choices=["stdio", "sse", "http"],
                       help="stdio (default), sse, or http (streamable HTTP) [POLAR_MCP_TRANSPORT]")
    serve.add_argument("--host", help="HTTP bind address (default 127.0.0.1) [POLAR_MCP_HOST]")
    serve.add_argument("--port", type=int, help="HTTP port (default 8000) [POLAR_MCP_PORT]")
    serve.add_argument("--no-auth", action="store_true", default=None,
                       help="serve HTTP on loopback without a bearer token (otherwise one is made up and printed "
                       "when POLAR_MCP_HTTP_TOKEN is unset) [POLAR_MCP_NO_AUTH]")
    serve.add_argument("--max-sessions-per-client", type=int, metavar="N",
                       help="open MCP sessions one HTTP client may hold (default 100) "
                       "[POLAR_MCP_MAX_SESSIONS_PER_CLIENT]")
    serve.add_argument("--max-sessions", type=int, metavar="N",
                       help="open MCP sessions over all HTTP clients (default 1000) [POLAR_MCP_MAX_SESSIONS]")
    serve.add_argument("--session-idle-timeout", type=float, metavar="SECONDS",
                       help="close an MCP session after this long without a request (default 1800) "
                       "[POLAR_MCP_SESSION_IDLE_TIMEOUT]")
    serve.add_argument("--head-timeout", type=float, metavar="SECONDS",
                       help="close a connection that has not sent its request head this long after it opened or "
                       "after its last answer (default 10) [POLAR_MCP_HEAD_TIMEOUT]")
    serve.add_argument("--allowed-hosts", type=_csv, metavar="H1,H2",
                       help="extra Host values accepted, e.g. mcp.example.com:* [POLAR_MCP_ALLOWED_HOSTS]")
    serve.add_argument("--allowed-origins", type=_csv, metavar="O1,O2",
                       help="extra Origin values accepted [POLAR_MCP_ALLOWED_ORIGINS]")
    serve.add_argument("--person-clients", type=_csv, metavar="NAME1,NAME2",
                       help="HTTP clients with a person at the screen: only their answer to a confirmation form "
                       "approves; others' requests go to the approval console [POLAR_MCP_PERSON_CLIENTS]")
    serve.add_argument("--trusted-proxies", type=_csv, metavar="IP1,CIDR",
                       help="proxies whose X-Forwarded-For is believed (default none) [POLAR_MCP_TRUSTED_PROXIES]")
    serve.add_argument("--log-level", choices=["debug", "info", "warning", "error"],
                       help="stderr log level (default warning) [POLAR_MCP_LOG_LEVEL]")

    emulator = sub.add_parser("emulator", help="serve the local Polar emulator over HTTP")
    emulator.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    emulator.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    emulator.add_argument("--orders", type=int, default=60, help="orders to seed (default 60)")

    sub.add_parser("demo", help="run a scripted MCP session over stdio against the emulator")

    audit = sub.add_parser("audit", help="verify the audit chain, show it, export or check a signed receipt")
    audit.add_argument("action", choices=["verify", "tail", "receipt", "public-key"],
                       help="verify: check every record's hash and signature against the signed head; tail: show "
                       "the last records as a table; receipt ID: export a decision and its outcome as a signed "
                       "receipt (receipt --verify FILE: check one, offline); public-key: print the key that checks "
                       "signatures, as a JWK")
    audit.add_argument("id", nargs="?", help="receipt: the approval's id (apr_...)")
    audit.add_argument("-n", "--lines", type=int, default=20, help="tail: how many records (default 20)")
    audit.add_argument("--file", metavar="FILE",
                       help="verify: check this JSON-lines audit log (one process's) against the store; tail: show it")
    audit.add_argument("--no-store", action="store_true",
                       help="verify --file: check the file on its own (a replica's file then shows gaps)")
    audit.add_argument("--state-dir", metavar="DIR", help="the store's state directory [POLAR_MCP_STATE_DIR]")
    audit.add_argument("--public-key", metavar="JWK", action="append",
                       help="check signatures with this public key (a JWK or PEM, or a file holding one; repeat for "
                       "several); default: the server's own key [POLAR_MCP_SIGNING_KEY or the state directory's]")
    audit.add_argument("--verify", metavar="FILE", help="receipt: check this receipt offline, without the store")
    audit.add_argument("--out", metavar="FILE", help="receipt: write it to FILE instead of stdout")

    keys = sub.add_parser(
        "passkeys", help="list the approvers' passkeys, or reset an approver's so that they may add one again",
        description="An approver's first passkey is added in the console with their approver secret; after that "
        "the secret alone adds none. reset NAME marks every passkey of the approver removed (an approval made with "
        "one and not yet used is not acted on) and lets them add one again in the console. Both are recorded in "
        "the audit chain.",
    )  # fmt: skip
    keys.add_argument("action", choices=["list", "reset"],
                      help="list: every passkey (approver, name, created, last used, removed); reset NAME: remove "
                      "every passkey of the approver NAME and let them add one again")  # fmt: skip
    keys.add_argument("name", nargs="?", help="the approver (reset; list: only theirs)")
    keys.add_argument("--state-dir", metavar="DIR", help="the store's state directory [POLAR_MCP_STATE_DIR]")
    return parser


def _settings_overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {name: getattr(args, name) for name in FLAGGED if getattr(args, name, None) is not None}


def _environment_only() -> str:
    """The settings no flag sets (secrets, mostly), each with its environment variable, for serve --help."""
    from polar_orders_mcp.settings import Settings, environment_names

    lines = ["read from the environment only (secrets never show in a process list):"]
    for name, field in Settings.model_fields.items():
        if name not in FLAGGED:
            lines.append(f"  {environment_names(name)[0]}: {field.description or ''}")
    return "\n".join(lines)


FLAGGED = ("emulator", "emulator_orders", "customer_session", "server", "api_version", "confirm", "approval_ttl",
             "approval_wait", "approval_above", "approval_proof", "passkey_above", "approvals_port", "console_url",
             "timezone", "state_dir", "timeout", "max_retries", "read_only", "tools", "exclude_tools", "toolsets",
             "max_charge", "max_daily", "allow_price_override", "audit_log", "transport", "host", "port", "no_auth",
             "max_sessions_per_client", "max_sessions", "session_idle_timeout", "head_timeout", "allowed_hosts",
             "allowed_origins", "trusted_proxies", "person_clients", "log_level", "oauth", "oauth_issuer",
             "oauth_audience", "oauth_jwks_url", "oauth_introspection_url", "oauth_client_id", "oauth_algorithms",
             "oauth_name_claim", "oauth_console", "public_url", "roles", "oauth_access_ttl", "oauth_refresh_ttl",
             "oauth_registration", "oauth_private_metadata")  # fmt: skip
"""The settings a serve flag sets (of the same name)."""


def _setting_name(loc: tuple[int | str, ...], given: dict[str, Any]) -> str:
    """What the user typed: the flag when a flag set the field, else the environment variable."""
    field = str(loc[0]) if loc else ""
    return _setting_label(field, given) if field else ""


def _setting_label(field: str, given: dict[str, Any]) -> str:
    """The flag when a flag set `field`, else its environment variable: the only other place it comes from (a
    variable's name, as an error about an aliased setting gives it, stays as it is)."""
    from polar_orders_mcp.settings import Settings, environment_names

    if field in given:
        return "--" + field.replace("_", "-")
    return environment_names(field)[0] if field in Settings.model_fields else field


def _configure_logging(level: str) -> None:
    # stdout carries the protocol in stdio mode: every log line goes to stderr.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Loggers that write what passes through them, whatever the level asked for: httpx2 logs every URL
    # at INFO (query strings hold customer emails, checkout paths hold client secrets; the client logs
    # its own redacted line), and at DEBUG sse_starlette logs every event-stream chunk and the SDK's SSE
    # transport every message, that is whole tool results with client secrets, customer sessions and
    # confirmation tokens in them.
    for name, floor in PAYLOAD_LOGGERS.items():
        logging.getLogger(name).setLevel(max(logging.getLevelName(level), floor))


def _freeze_startup_objects() -> None:
    """Keep what startup built (modules, models, schemas: about 100k objects, alive until exit) out
    of the cyclic collector's full passes, which otherwise stall a tool call for 30-40 ms now and then."""
    import gc

    gc.freeze()


def _serve(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from polar_orders_mcp.settings import Settings

    overrides = _settings_overrides(args)
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        for error in exc.errors():
            name = _setting_name(error["loc"], overrides)
            message = str(error["msg"]).removeprefix("Value error, ")
            say(f"polar-orders-mcp: invalid setting {name}: {message}")
        return 2
    _configure_logging(settings.log_level)

    from polar_orders_mcp.server.app import UnknownNames
    from polar_orders_mcp.store.records import StoreError

    try:
        if settings.transport == "stdio":
            from polar_orders_mcp.server.stdio import serve_stdio

            serve_stdio(settings)
        else:
            from polar_orders_mcp.server.app import build_parts, open_store, replica_warnings
            from polar_orders_mcp.server.http import check_exposure, listen, serve_http

            check_exposure(settings)
            sock = listen(settings.host, settings.port, how_to_change="--port N (or POLAR_MCP_PORT)")
            built = build_parts(settings)
            for warning in replica_warnings(settings):
                logging.getLogger("polar_orders_mcp").warning("%s", warning)
            # The schema is created or upgraded before the first request; a newer one stops the start.
            open_store(built)
            _freeze_startup_objects()
            serve_http(built.server, settings, sock)
    except (ValueError, StoreError) as exc:
        said = exc.said_of(_setting_label(exc.setting, overrides)) if isinstance(exc, UnknownNames) else str(exc)
        say(f"polar-orders-mcp: {said}")
        return 2
    return 0


def _emulator(args: argparse.Namespace) -> int:
    from polar_orders_mcp.emulator.app import serve
    from polar_orders_mcp.server.http import StartupError, listen

    try:
        sock = listen(args.host, args.port, how_to_change="--port N")
    except StartupError as exc:
        say(f"polar-orders-mcp emulator: {exc}")
        return 2
    serve(host=args.host, port=args.port, orders=args.orders, sock=sock)
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help", "--version")):
        argv.insert(0, "serve")
    args = _parser().parse_args(argv)
    if args.command == "emulator":
        code = _emulator(args)
    elif args.command == "demo":
        from polar_orders_mcp.demo import run_demo

        code = run_demo()
    elif args.command == "audit":
        from polar_orders_mcp.audit_cli import run_audit

        code = run_audit(args)
    elif args.command == "passkeys":
        from polar_orders_mcp.passkeys_cli import run_passkeys

        code = run_passkeys(args)
    else:
        code = _serve(args)
    sys.exit(code)
