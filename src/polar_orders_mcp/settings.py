"""Settings: environment variables and command-line flags, one validated object."""

from __future__ import annotations

import hashlib
import os
import re
import sys
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from polar_orders_mcp.approvals.limits import ApprovalProof, ConfirmMode, Limits
from polar_orders_mcp.polar.servers import SERVERS, resolve_server

Transport = Literal["stdio", "sse", "http"]
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
ORGANIZATION_TOKEN_PREFIX = "polar_oat_"
DEFAULT_CLIENT = "default"
# Names the server gives callers itself (server/identity.py): no HTTP client may take them.
STDIO_CLIENT = "stdio"
ANONYMOUS_CLIENT = "anonymous"
RESERVED_CLIENTS = frozenset({STDIO_CLIENT, ANONYMOUS_CLIENT})
MIN_HTTP_TOKEN = 16
_CLIENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
CUSTOMER_SESSION_PREFIX = "polar_cst_"


def parse_http_tokens(text: str) -> dict[str, str]:
    """name:token,name:token -> {name: token}; a ValueError that never shows a token."""
    clients: dict[str, str] = {}
    for number, item in enumerate(text.split(","), start=1):
        name, colon, token = item.strip().partition(":")
        if not colon:
            raise ValueError(f"entry {number} is not name:token (a client name, a colon, then its token)")
        if not _CLIENT_NAME.fullmatch(name):
            raise ValueError(
                f"entry {number}: the client name must be 1-64 letters, digits, '.', '_' or '-', starting with a "
                "letter or digit"
            )
        if name in RESERVED_CLIENTS:
            raise ValueError(f"entry {number}: {name!r} is a name the server uses itself; pick another")
        if name in clients:
            raise ValueError(f"client {name!r} is named twice")
        if len(token) < MIN_HTTP_TOKEN or any(ch.isspace() for ch in token):
            raise ValueError(
                f"the token of client {name!r} must be at least {MIN_HTTP_TOKEN} characters with no spaces"
            )
        clients[name] = token
    return clients


def _with_default(clients: dict[str, str], single: SecretStr | None) -> dict[str, str]:
    if single is not None:
        if DEFAULT_CLIENT in clients:
            raise ValueError(
                f"names a client {DEFAULT_CLIENT!r}, the name of POLAR_MCP_HTTP_TOKEN's client: rename it, or drop "
                "POLAR_MCP_HTTP_TOKEN"
            )
        clients = {DEFAULT_CLIENT: single.get_secret_value(), **clients}
    if len(set(clients.values())) != len(clients):
        raise ValueError("gives two HTTP clients the same token: give each client its own")
    return clients


def default_state_dir() -> Path:
    """Where the server keeps its state (approvals, spend totals, the audit chain) by default."""
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local") / "polar-orders-mcp"
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "polar-orders-mcp"


MIN_APPROVER_SECRET = 12


def parse_approvers(text: str) -> dict[str, str]:
    """`ada:secret1,bob:secret2` → {"ada": "secret1", "bob": "secret2"}; never echoes a secret."""
    found: dict[str, str] = {}
    for number, item in enumerate((part.strip() for part in text.split(",") if part.strip()), start=1):
        name, sep, secret = item.partition(":")
        name, secret = name.strip(), secret.strip()
        if not sep or not name or not secret:
            raise ValueError(f"entry {number} is not name:secret")
        if not name.replace("-", "").replace("_", "").replace(".", "").isalnum() or len(name) > 64:
            raise ValueError(f"entry {number}: approver names are letters, digits, '-', '_' or '.' (at most 64)")
        if len(secret) < MIN_APPROVER_SECRET:
            raise ValueError(
                f"entry {number} ({name}): the secret is too short, use at least {MIN_APPROVER_SECRET} characters"
            )
        if name in found:
            raise ValueError(f"approver {name} is listed twice")
        found[name] = secret
    return found


def parse_roles(text: str) -> dict[str, frozenset[str]]:
    """`ada=approve,bob=use+approve` → {"ada": {"approve"}, "bob": {"use", "approve"}}."""
    from polar_orders_mcp.oauth.grants import ROLES

    found: dict[str, frozenset[str]] = {}
    for number, item in enumerate((part.strip() for part in text.split(",") if part.strip()), start=1):
        name, sep, given = item.partition("=")
        name = name.strip()
        wanted = frozenset(role.strip() for role in given.split("+") if role.strip())
        if not sep or not name or not wanted:
            raise ValueError(f"entry {number} is not name=role (roles: use, approve, use+approve)")
        if unknown := sorted(wanted - set(ROLES)):
            raise ValueError(f"entry {number} ({name[:64]}): unknown role {unknown[0][:32]!r}, use use or approve")
        if name in found:
            raise ValueError(f"{name[:64]} is listed twice")
        found[name] = wanted
    return found


MIN_REQUEST_STATE_KEY = 32  # what mcp's AES-GCM request-state codec requires
KEY_HINT = "python -c 'import secrets; print(secrets.token_hex(32))'"


def zone_named(name: str) -> tzinfo:
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{name.strip()[:60]!r} is not an IANA time zone: use a name such as Europe/Paris, America/New_York or UTC"
        ) from None


def local_zone() -> tzinfo:
    """This machine's time zone: TZ, else /etc/localtime's zone name, else its current offset (no DST rules)."""
    for name in (os.environ.get("TZ", "").lstrip(":"), _localtime_name()):
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                pass
    return datetime.now().astimezone().tzinfo or UTC


def _localtime_name() -> str:
    try:
        target = os.readlink("/etc/localtime")
    except OSError:
        return ""
    return target.partition("zoneinfo/")[2]


def split_keys(text: str) -> list[str]:
    """`key1,key2` → ["key1", "key2"], each long enough and listed once; never echoes a key."""
    keys = [part.strip() for part in text.split(",") if part.strip()]
    if not keys:
        raise ValueError(f"no key given: generate one with {KEY_HINT}")
    for number, key in enumerate(keys, start=1):
        if len(key.encode()) < MIN_REQUEST_STATE_KEY:
            raise ValueError(
                f"key {number} is too short: use at least {MIN_REQUEST_STATE_KEY} random characters, "
                f"e.g. from {KEY_HINT}"
            )
    if len(set(keys)) != len(keys):
        raise ValueError("a key is listed twice")
    return keys


ENV_PREFIX = "POLAR_MCP_"


class Settings(BaseSettings):
    """Everything the server is configured with. Flags override the environment."""

    # A setting's variable is POLAR_MCP_<NAME> unless its field names another (validation_alias: the current name
    # first, then older ones). Code and flags set fields by name.
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", populate_by_name=True, case_sensitive=False
    )

    access_token: SecretStr | None = Field(
        default=None,
        validation_alias="POLAR_ACCESS_TOKEN",
        description="Polar organization access token (polar_oat_...).",
    )
    customer_session: SecretStr | None = Field(
        default=None,
        validation_alias="POLAR_CUSTOMER_SESSION",
        description="Customer session token (polar_cst_...): serve one customer's portal tools instead. Prefer the "
        "environment variable: a flag shows in process lists.",
    )
    server: str = Field(
        default="production",
        validation_alias="POLAR_SERVER",
        description="production, sandbox, or a base URL.",
    )
    api_version: str = Field(
        default="2026-10",
        validation_alias="POLAR_API_VERSION",
        description="Value of the Polar-Version header.",
    )
    emulator: bool = Field(
        default=False,
        description="Serve against the embedded Polar emulator: no token, no network.",
    )
    emulator_orders: int = Field(
        default=60,
        ge=0,
        le=1_000_000,
        description="How many orders the embedded emulator is seeded with.",
    )
    confirm: ConfirmMode = Field(
        default="auto",
        description="How a person approves irreversible calls: auto (in the client when it can ask, else the approval "
        "console), elicit (only in the client), console (only the console), relay (the model relays a token: it can "
        "approve by itself) or off (nobody).",
    )
    confirm_secret: SecretStr | None = Field(
        default=None,
        description="HMAC secret of relay-mode confirmation tokens; random per process when unset.",
    )
    request_state_keys: SecretStr | None = Field(
        default=None,
        description="Keys sealing the state a 2026-07-28 client echoes back (key1,key2: the first seals, all "
        "open); random per process when unset. Replicas must share them.",
    )
    approval_ttl: float = Field(
        default=900.0,
        gt=0,
        le=86_400,
        validation_alias=AliasChoices("POLAR_MCP_APPROVAL_TTL", "POLAR_MCP_CONFIRM_TTL"),
        description="Seconds an approval request stays open for a decision, and an approval for its use.",
    )
    approval_wait: float = Field(
        default=60.0,
        ge=0,
        le=3600,
        description="Seconds a call waits for a decision once a person has the approval page.",
    )
    approval_above: Annotated[Limits, NoDecode] = Field(
        default_factory=Limits,
        description="Above this amount only the approval console may approve (a second person), even when the "
        "client could ask: usd=50000,eur=45000, or one number for any currency.",
    )
    approval_proof: ApprovalProof = Field(
        default="secret",
        description="What an approval in the console needs: secret (the approver signed in) or passkey (also "
        "their passkey, signing the facts shown; never in the client's form).",
    )
    passkey_above: Annotated[Limits, NoDecode] = Field(
        default_factory=Limits,
        description="Above this amount an approval needs the approver's passkey, in the console: "
        "usd=50000,eur=45000, or one number for any currency.",
    )
    approver_token: SecretStr | None = Field(
        default=None,
        description="The approval console's sign-in secret for one approver, named 'approver'.",
    )
    approvers: SecretStr | None = Field(
        default=None,
        description="Named approvers and their sign-in secrets: name:secret,name2:secret2.",
    )
    approvals_port: int = Field(
        default=8765,
        ge=0,
        le=65535,
        description="stdio mode: loopback port of the approval console (0: any free port).",
    )
    console_url: str | None = Field(
        default=None,
        description="Public base URL of the approval console in links, e.g. https://mcp.example.com/approvals.",
    )
    timezone: str | None = Field(
        default=None,
        description="IANA time zone for the times people read in approvals, e.g. Europe/Paris (UTC is shown "
        "beside); default: this machine's zone. The console's script shows its pages' times in the viewer's own "
        "zone instead.",
    )
    state_dir: Path | None = Field(
        default=None,
        description="Directory of the embedded SQLite store (default: the per-user state directory).",
    )
    database_url: SecretStr | None = Field(
        default=None,
        description="Store URL: sqlite:///path or postgresql://… (shared by replicas); overrides --state-dir.",
    )
    signing_key: SecretStr | None = Field(
        default=None,
        description="Ed25519 private key (PEM or JWK) signing decisions and the audit, the same on every replica; "
        "default: the state directory's signing-key.pem, made on first use.",
    )
    timeout: float = Field(
        default=30.0,
        gt=0,
        le=600,
        description="Seconds to wait for Polar before giving up on a request.",
    )
    max_retries: int = Field(
        default=3,
        ge=0,
        le=10,
        description="Retries for reads on connection errors, 429 and 502/503/504.",
    )
    read_only: bool = Field(
        default=False,
        description="Serve only read tools; wins over every other selection.",
    )
    tools: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Serve only these tools (comma-separated names).",
    )
    exclude_tools: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Never serve these tools.",
    )
    toolsets: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="The groups of tools to serve (serve --help lists them); empty: the default ones. `default` "
        "stands for the default ones, `all` for every one: default,subscriptions adds one.",
    )
    max_charge: Annotated[Limits, NoDecode] = Field(
        default_factory=Limits,
        description="Largest single move of money, per currency in minor units: usd=50000,eur=45000 (a currency "
        "left out is refused); a bare number or *=N applies to every other currency.",
    )
    max_daily: Annotated[Limits, NoDecode] = Field(
        default_factory=Limits,
        description="Most money moved in any 24 hours, per currency in minor units: usd=200000.",
    )
    allow_price_override: bool = Field(
        default=False,
        description="Let create_order set an amount that overrides the product's fixed price.",
    )
    audit_log: str | None = Field(
        default=None,
        description="Append audit JSON lines to this file instead of stderr.",
    )
    transport: Transport = Field(
        default="stdio",
        description="stdio, sse, or http (streamable HTTP).",
    )
    host: str = Field(
        default="127.0.0.1",
        description="Address the HTTP transports bind to.",
    )
    port: int = Field(default=8000, ge=0, le=65535, description="HTTP port.")
    http_token: SecretStr | None = Field(
        default=None,
        description="Bearer token HTTP clients must send (client 'default'); made up per run on loopback when unset.",
    )
    http_tokens: SecretStr | None = Field(
        default=None,
        description="Named HTTP clients, name:token,name:token; each session belongs to the client that opened it.",
    )
    person_clients: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="HTTP clients with a person at the screen, whose answer to a confirmation form counts as that "
        "person's approval; any other client's requests go to the approval console (stdio: always a person).",
    )
    no_auth: bool = Field(
        default=False,
        description="Serve HTTP on loopback without any bearer token (every local user and process can call "
        "tools); otherwise one is made up and printed when POLAR_MCP_HTTP_TOKEN is unset.",
    )
    oauth: bool = Field(
        default=False,
        description="OAuth 2.1 for HTTP clients (claude.ai, ChatGPT, Claude Desktop connectors), with the embedded "
        "authorization server: people (POLAR_MCP_APPROVERS, with POLAR_MCP_ROLES) sign in and consent, clients "
        "register by metadata document or DCR; static tokens keep working.",
    )
    oauth_issuer: str | None = Field(
        default=None,
        description="OAuth 2.1 with an external identity provider: its issuer URL (Keycloak, Auth0, Okta, Entra …); "
        "tokens are checked against its JWKS, or by introspection.",
    )
    oauth_audience: str | None = Field(
        default=None,
        description="The audience an external provider's tokens must carry (default: this server's resource URL).",
    )
    oauth_jwks_url: str | None = Field(
        default=None,
        description="The external provider's JWKS URL (default: from its discovery document).",
    )
    oauth_introspection_url: str | None = Field(
        default=None,
        description="Check the external provider's tokens by RFC 7662 introspection at this URL instead of by JWKS "
        "(for opaque tokens); needs --oauth-client-id and POLAR_MCP_OAUTH_CLIENT_SECRET.",
    )
    oauth_client_id: str | None = Field(
        default=None,
        description="This server's client id at the external provider (introspection; console sign-in); its "
        "secret in POLAR_MCP_OAUTH_CLIENT_SECRET.",
    )
    oauth_client_secret: SecretStr | None = Field(
        default=None,
        description="This server's client secret at the external provider (environment only).",
    )
    oauth_algorithms: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["RS256", "PS256", "ES256", "EdDSA"],
        description="Signature algorithms accepted on the external provider's tokens (never 'none' nor HS*).",
    )
    oauth_name_claim: str = Field(
        default="preferred_username",
        description="The claim of an external provider's token that names the person (as approvers are named).",
    )
    oauth_console: bool = Field(
        default=False,
        description="People sign in to the approval console through the external provider (OpenID Connect).",
    )
    public_url: str | None = Field(
        default=None,
        description="The address clients reach this server at, e.g. https://mcp.example.com (OAuth's resource and "
        "issuer; default http://localhost:PORT on loopback).",
    )
    roles: str | None = Field(
        default=None,
        description="What each person of POLAR_MCP_APPROVERS may do: name=use (clients act for them), name=approve "
        "(the console), name=use+approve; anyone not named: approve.",
    )
    oauth_access_ttl: int = Field(
        default=3600,
        ge=60,
        le=86_400,
        description="Seconds an access token of the embedded authorization server lasts.",
    )
    oauth_refresh_ttl: int = Field(
        default=30 * 86_400,
        ge=300,
        le=365 * 86_400,
        description="Seconds a refresh token lasts unused (each use replaces it).",
    )
    oauth_registration: bool = Field(
        default=True,
        description="Let clients register by Dynamic Client Registration (metadata documents are always accepted).",
    )
    oauth_private_metadata: bool = Field(
        default=False,
        description="Fetch client metadata documents from private and loopback addresses too (tests, intranets).",
    )
    max_sessions_per_client: int = Field(
        default=100,
        ge=1,
        le=100_000,
        description="Open MCP sessions (streamable HTTP or SSE) one HTTP client may hold; its idlest goes first.",
    )
    max_sessions: int = Field(
        default=1000,
        ge=1,
        le=100_000,
        description="Open MCP sessions over all HTTP clients.",
    )
    session_idle_timeout: float = Field(
        default=1800.0,
        gt=0,
        le=86_400,
        description="Seconds without a request after which an MCP session is closed and its memory freed.",
    )
    head_timeout: float = Field(
        default=10.0,  # a client sends its head at once
        gt=0,
        le=3600,
        description="Seconds a connection to an HTTP listener (MCP, the approval console) has to send its request "
        "head, after it opens or after its last answer; then it is closed. A console form's body has as long once "
        "its head is whole.",
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Extra Host header values accepted (host:port, or host:* for any port).",
    )
    allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Extra Origin header values accepted (scheme://host:port, port may be *).",
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Addresses (or CIDR ranges) of proxies whose X-Forwarded-For is believed; none by default.",
    )
    log_level: LogLevel = Field(
        default="WARNING",
        description="Log level on stderr.",
    )

    @field_validator("server")
    @classmethod
    def _known_server(cls, value: str) -> str:
        resolve_server(value)  # the client's own check: what starts here also works on the first call
        value = value.strip()
        return value if value in SERVERS else value.rstrip("/")

    @field_validator("http_tokens")
    @classmethod
    def _named_clients(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is not None:
            single = info.data.get("http_token")
            _with_default(parse_http_tokens(value.get_secret_value()), single)
        return value

    @field_validator("person_clients")
    @classmethod
    def _person_client_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if name != ANONYMOUS_CLIENT and not _CLIENT_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a client name (1-64 letters, digits, '.', '_' or '-')")
        return value

    def http_clients(self) -> dict[str, str]:
        """Client name -> bearer token, from POLAR_MCP_HTTP_TOKEN ('default') and POLAR_MCP_HTTP_TOKENS."""
        clients = parse_http_tokens(self.http_tokens.get_secret_value()) if self.http_tokens else {}
        return _with_default(clients, self.http_token)

    @field_validator("access_token", "customer_session", "http_token", "confirm_secret")
    @classmethod
    def _no_whitespace(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and any(ch.isspace() for ch in value.get_secret_value()):
            raise ValueError(
                "has spaces or line breaks in it (a copy-paste slip?): set it to the token alone, nothing around it"
            )
        return value

    @field_validator("access_token")
    @classmethod
    def _organization_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value().startswith(CUSTOMER_SESSION_PREFIX):
            raise ValueError(
                "is a customer session (polar_cst_…), which belongs in POLAR_CUSTOMER_SESSION (customer mode: one "
                "customer's own orders). POLAR_ACCESS_TOKEN takes an organization access token (polar_oat_…)"
            )
        return value

    @field_validator("customer_session")
    @classmethod
    def _customer_session(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value().startswith(ORGANIZATION_TOKEN_PREFIX):
            raise ValueError(
                "is an organization access token (polar_oat_…), which belongs in POLAR_ACCESS_TOKEN. "
                "POLAR_CUSTOMER_SESSION takes a customer session (polar_cst_…)"
            )
        return value

    @field_validator("confirm", mode="before")
    @classmethod
    def _renamed_mode(cls, value: object) -> object:
        # 0.1.0's "token" is the model-relayed token, now called what it is.
        return "relay" if isinstance(value, str) and value.strip().lower() == "token" else value

    @field_validator("max_charge", "max_daily", "approval_above", "passkey_above", mode="before")
    @classmethod
    def _limits(cls, value: object) -> Limits:
        return Limits.parse(value)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            zone_named(value)
        return value

    def display_zone(self) -> tzinfo:
        """The zone people read approval times in: --timezone, else this machine's own."""
        return zone_named(self.timezone) if self.timezone else local_zone()

    @field_validator("approvers")
    @classmethod
    def _approvers_form(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_approvers(value.get_secret_value())
        return value

    @field_validator("request_state_keys")
    @classmethod
    def _request_state_keys_form(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            split_keys(value.get_secret_value())
        return value

    @field_validator("approver_token")
    @classmethod
    def _approver_secret_length(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().strip()) < MIN_APPROVER_SECRET:
            raise ValueError(f"too short: use at least {MIN_APPROVER_SECRET} random characters")
        return value

    @field_validator("console_url")
    @classmethod
    def _console_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")) or "?" in value or "#" in value:
            raise ValueError("must be an http(s) URL without query or fragment, e.g. https://mcp.example.com/approvals")
        return value

    @model_validator(mode="after")
    def _passkeys_possible(self) -> Settings:
        """Passkeys are asked in the approval console, on an address a browser accepts for them."""
        if self.approval_proof != "passkey" and not self.passkey_above:
            return self
        flag = "--approval-proof passkey" if self.approval_proof == "passkey" else "--passkey-above"
        if self.confirm in ("relay", "off"):
            raise ValueError(f"{flag} needs a person in the approval console, and --confirm {self.confirm} asks none")
        if self.console_url is None and self.transport != "stdio":
            raise ValueError(
                f"{flag} binds passkeys to the console's exact address: set --console-url (e.g. "
                "https://mcp.example.com/approvals)"
            )
        if self.console_url is not None:
            from polar_orders_mcp.approvals.passkeys import site_of

            site = site_of(self.console_url)
            if isinstance(site, str):
                raise ValueError(f"{flag}: {site}")
        return self

    @field_validator("public_url", "oauth_issuer", "oauth_jwks_url", "oauth_introspection_url", "oauth_audience")
    @classmethod
    def _oauth_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if info.field_name == "oauth_audience":
            return value
        value = value.rstrip("/") if info.field_name in ("public_url", "oauth_issuer") else value
        if (
            not value.startswith(("http://", "https://"))
            or "#" in value
            or (info.field_name != "oauth_jwks_url" and "?" in value)
        ):
            raise ValueError("must be an http(s) URL without query or fragment, e.g. https://mcp.example.com")
        return value

    @field_validator("oauth_algorithms")
    @classmethod
    def _signed_only(cls, value: list[str]) -> list[str]:
        if refused := [name for name in value if name.lower() == "none" or name.upper().startswith("HS")]:
            raise ValueError(
                f"{refused[0][:16]!r} is refused: tokens must be signed with the provider's public key "
                "(RS256, PS256, ES256, EdDSA …)"
            )
        if not value:
            raise ValueError("name at least one algorithm, e.g. RS256")
        return value

    @field_validator("roles")
    @classmethod
    def _roles_form(cls, value: str | None) -> str | None:
        if value is not None:
            parse_roles(value)
        return value

    @property
    def oauth_mode(self) -> Literal["off", "embedded", "external"]:
        """off: static bearer tokens only; embedded: this server is the authorization server too; external: an
        identity provider (--oauth-issuer) issues the tokens."""
        if self.oauth_issuer is not None:
            return "external"
        return "embedded" if self.oauth else "off"

    def base_url(self) -> str:
        """Where clients reach this server: --public-url, else http://localhost:PORT."""
        return self.public_url or f"http://localhost:{self.port}"

    def resource_url(self) -> str:
        """The OAuth resource (RFC 8707, RFC 9728) that is this server's MCP endpoint."""
        return self.base_url() + ("/sse" if self.transport == "sse" else "/mcp")

    def people_roles(self) -> dict[str, frozenset[str]]:
        """Every person of the approvers' list and what they may do (POLAR_MCP_ROLES; unnamed: approve); with an
        external identity provider, also the people POLAR_MCP_ROLES names without a secret (they sign in there)."""
        given = parse_roles(self.roles) if self.roles else {}
        found = {name: given.get(name, frozenset({"approve"})) for name in self.approver_secrets()}
        if self.oauth_mode == "external":
            found.update({name: roles for name, roles in given.items() if name not in found})
        return found

    def approver_secrets(self) -> dict[str, str]:
        """Every approver's name and sign-in secret."""
        found: dict[str, str] = {}
        if self.approver_token is not None:
            found["approver"] = self.approver_token.get_secret_value().strip()
        if self.approvers is not None:
            found.update(parse_approvers(self.approvers.get_secret_value()))
        return found

    def request_state_key_list(self) -> list[str]:
        """The request-state keys, the sealing one first; empty when unset."""
        return split_keys(self.request_state_keys.get_secret_value()) if self.request_state_keys else []

    @property
    def shared_store(self) -> bool:
        """The store is a database server other processes (replicas) may share."""
        return self.store_url().startswith(("postgresql:", "postgres:", "postgresql+"))

    def store_url(self) -> str:
        """The store's database URL: --database-url, else SQLite in the state directory (by default one of
        its own per Polar server: sandbox and production never share approvals, sessions or limits)."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{self.state_path() / 'state.db'}"

    def state_path(self) -> Path:
        """The state directory: --state-dir, else the per-user one of this Polar server."""
        return self.state_dir or default_state_dir() / self.polar_owner_key()

    def polar_owner(self) -> str:
        """The Polar server whose approvals and spend the store holds: the emulator, or Polar's base URL."""
        if self.emulator:
            return "the embedded emulator"
        from polar_orders_mcp.polar.servers import resolve_server

        return resolve_server(self.server)[1]

    def polar_owner_key(self) -> str:
        """A directory name for polar_owner(): production, sandbox, emulator, or custom-<hash of the URL>."""
        if self.emulator:
            return "emulator"
        name = self.server.strip()
        if name in ("production", "sandbox"):
            return name
        return "custom-" + hashlib.sha256(self.polar_owner().encode()).hexdigest()[:12]

    @field_validator(
        "allowed_hosts",
        "allowed_origins",
        "trusted_proxies",
        "person_clients",
        "tools",
        "exclude_tools",
        "toolsets",
        "oauth_algorithms",
        mode="before",
    )
    @classmethod
    def _comma_list(cls, value: object) -> object:
        # The environment gives "a,b"; flags and code give lists.
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @property
    def customer_mode(self) -> bool:
        return self.customer_session is not None

    @property
    def loopback(self) -> bool:
        return self.host in LOOPBACK

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


def environment_names(name: str, field: FieldInfo | None = None) -> list[str]:
    """The environment variables that set the setting `name` (`field`, when not one of Settings'), the current
    name first (the rest are older names)."""
    alias = (field or Settings.model_fields[name]).validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice) for choice in alias.choices]
    return [alias] if isinstance(alias, str) else [ENV_PREFIX + name.upper()]
