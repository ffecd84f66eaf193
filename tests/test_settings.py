"""Settings read from the environment: every variable the server has documented, and only those."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import SecretStr

from polar_orders_mcp.approvals.limits import Limits
from polar_orders_mcp.settings import Settings

# Every environment variable of 0.3's Settings: the variable, the field it sets, a value, what the field then holds.
ENVIRONMENT: list[tuple[str, str, str, object]] = [
    ("POLAR_ACCESS_TOKEN", "access_token", "polar_oat_envtest", "polar_oat_envtest"),
    ("POLAR_CUSTOMER_SESSION", "customer_session", "polar_cst_envtest", "polar_cst_envtest"),
    ("POLAR_SERVER", "server", "sandbox", "sandbox"),
    ("POLAR_API_VERSION", "api_version", "2025-01", "2025-01"),
    ("POLAR_MCP_EMULATOR", "emulator", "true", True),
    ("POLAR_MCP_EMULATOR_ORDERS", "emulator_orders", "7", 7),
    ("POLAR_MCP_CONFIRM", "confirm", "console", "console"),
    ("POLAR_MCP_CONFIRM_SECRET", "confirm_secret", "confirm-secret-value", "confirm-secret-value"),
    ("POLAR_MCP_REQUEST_STATE_KEYS", "request_state_keys", "k" * 32, "k" * 32),
    ("POLAR_MCP_APPROVAL_TTL", "approval_ttl", "120", 120.0),
    ("POLAR_MCP_CONFIRM_TTL", "approval_ttl", "130", 130.0),
    ("POLAR_MCP_APPROVAL_WAIT", "approval_wait", "5", 5.0),
    ("POLAR_MCP_APPROVAL_ABOVE", "approval_above", "usd=500", Limits.parse("usd=500")),
    ("POLAR_MCP_APPROVAL_PROOF", "approval_proof", "passkey", "passkey"),
    ("POLAR_MCP_PASSKEY_ABOVE", "passkey_above", "usd=700", Limits.parse("usd=700")),
    ("POLAR_MCP_APPROVER_TOKEN", "approver_token", "approver-secret-123", "approver-secret-123"),
    ("POLAR_MCP_APPROVERS", "approvers", "ada:ada-secret-1234", "ada:ada-secret-1234"),
    ("POLAR_MCP_APPROVALS_PORT", "approvals_port", "9999", 9999),
    ("POLAR_MCP_CONSOLE_URL", "console_url", "https://mcp.example.com/approvals", "https://mcp.example.com/approvals"),
    ("POLAR_MCP_TIMEZONE", "timezone", "Europe/Paris", "Europe/Paris"),
    ("POLAR_MCP_STATE_DIR", "state_dir", "/srv/pom-state", Path("/srv/pom-state")),
    ("POLAR_MCP_DATABASE_URL", "database_url", "sqlite:////srv/pom.db", "sqlite:////srv/pom.db"),
    ("POLAR_MCP_SIGNING_KEY", "signing_key", "signing-key-text", "signing-key-text"),
    ("POLAR_MCP_TIMEOUT", "timeout", "12", 12.0),
    ("POLAR_MCP_MAX_RETRIES", "max_retries", "5", 5),
    ("POLAR_MCP_READ_ONLY", "read_only", "1", True),
    ("POLAR_MCP_TOOLS", "tools", "get_order,list_orders", ["get_order", "list_orders"]),
    ("POLAR_MCP_EXCLUDE_TOOLS", "exclude_tools", "finalize_order", ["finalize_order"]),
    ("POLAR_MCP_TOOLSETS", "toolsets", "default,subscriptions", ["default", "subscriptions"]),
    ("POLAR_MCP_MAX_CHARGE", "max_charge", "usd=50000", Limits.parse("usd=50000")),
    ("POLAR_MCP_MAX_DAILY", "max_daily", "usd=200000", Limits.parse("usd=200000")),
    ("POLAR_MCP_ALLOW_PRICE_OVERRIDE", "allow_price_override", "true", True),
    ("POLAR_MCP_AUDIT_LOG", "audit_log", "/srv/audit.jsonl", "/srv/audit.jsonl"),
    ("POLAR_MCP_TRANSPORT", "transport", "http", "http"),
    ("POLAR_MCP_HOST", "host", "0.0.0.0", "0.0.0.0"),
    ("POLAR_MCP_PORT", "port", "9000", 9000),
    ("POLAR_MCP_HTTP_TOKEN", "http_token", "http-token-0123456789", "http-token-0123456789"),
    ("POLAR_MCP_HTTP_TOKENS", "http_tokens", "ci:ci-token-0123456789", "ci:ci-token-0123456789"),
    ("POLAR_MCP_PERSON_CLIENTS", "person_clients", "ci", ["ci"]),
    ("POLAR_MCP_NO_AUTH", "no_auth", "true", True),
    ("POLAR_MCP_OAUTH", "oauth", "true", True),
    ("POLAR_MCP_OAUTH_ISSUER", "oauth_issuer", "https://idp.example.com", "https://idp.example.com"),
    ("POLAR_MCP_OAUTH_AUDIENCE", "oauth_audience", "aud-1", "aud-1"),
    ("POLAR_MCP_OAUTH_JWKS_URL", "oauth_jwks_url", "https://idp.example.com/jwks", "https://idp.example.com/jwks"),
    (
        "POLAR_MCP_OAUTH_INTROSPECTION_URL",
        "oauth_introspection_url",
        "https://idp.example.com/in",
        "https://idp.example.com/in",
    ),
    ("POLAR_MCP_OAUTH_CLIENT_ID", "oauth_client_id", "client-1", "client-1"),
    ("POLAR_MCP_OAUTH_CLIENT_SECRET", "oauth_client_secret", "client-secret-1", "client-secret-1"),
    ("POLAR_MCP_OAUTH_ALGORITHMS", "oauth_algorithms", "ES256", ["ES256"]),
    ("POLAR_MCP_OAUTH_NAME_CLAIM", "oauth_name_claim", "email", "email"),
    ("POLAR_MCP_OAUTH_CONSOLE", "oauth_console", "true", True),
    ("POLAR_MCP_PUBLIC_URL", "public_url", "https://mcp.example.com", "https://mcp.example.com"),
    ("POLAR_MCP_ROLES", "roles", "ada=use", "ada=use"),
    ("POLAR_MCP_OAUTH_ACCESS_TTL", "oauth_access_ttl", "600", 600),
    ("POLAR_MCP_OAUTH_REFRESH_TTL", "oauth_refresh_ttl", "86400", 86_400),
    ("POLAR_MCP_OAUTH_REGISTRATION", "oauth_registration", "false", False),
    ("POLAR_MCP_OAUTH_PRIVATE_METADATA", "oauth_private_metadata", "true", True),
    ("POLAR_MCP_MAX_SESSIONS_PER_CLIENT", "max_sessions_per_client", "10", 10),
    ("POLAR_MCP_MAX_SESSIONS", "max_sessions", "20", 20),
    ("POLAR_MCP_SESSION_IDLE_TIMEOUT", "session_idle_timeout", "60", 60.0),
    ("POLAR_MCP_HEAD_TIMEOUT", "head_timeout", "5", 5.0),
    ("POLAR_MCP_ALLOWED_HOSTS", "allowed_hosts", "mcp.example.com:*", ["mcp.example.com:*"]),
    ("POLAR_MCP_ALLOWED_ORIGINS", "allowed_origins", "https://mcp.example.com", ["https://mcp.example.com"]),
    ("POLAR_MCP_TRUSTED_PROXIES", "trusted_proxies", "10.0.0.0/8", ["10.0.0.0/8"]),
    ("POLAR_MCP_LOG_LEVEL", "log_level", "debug", "DEBUG"),
]


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The process environment without any POLAR* variable, for the test to set its own."""
    for name in [name for name in os.environ if name.upper().startswith("POLAR")]:
        monkeypatch.delenv(name)
    return monkeypatch


def held(settings: Settings, field: str) -> object:
    value = getattr(settings, field)
    return value.get_secret_value() if isinstance(value, SecretStr) else value


@pytest.mark.parametrize(("name", "field", "value", "expected"), ENVIRONMENT, ids=[row[0] for row in ENVIRONMENT])
def test_every_documented_variable_sets_its_setting(
    environment: pytest.MonkeyPatch, name: str, field: str, value: str, expected: object
) -> None:
    assert held(Settings(), field) != expected
    environment.setenv(name, value)
    assert held(Settings(), field) == expected


def test_the_list_covers_every_setting() -> None:
    assert {field for _, field, _, _ in ENVIRONMENT} == set(Settings.model_fields)


def test_the_current_name_wins_over_the_older_one(environment: pytest.MonkeyPatch) -> None:
    environment.setenv("POLAR_MCP_CONFIRM_TTL", "130")
    environment.setenv("POLAR_MCP_APPROVAL_TTL", "120")
    assert Settings().approval_ttl == 120.0


@pytest.mark.parametrize(
    ("name", "field"),
    [("PORT", "port"), ("HOST", "host"), ("TIMEOUT", "timeout"), ("TOOLS", "tools"), ("ACCESS_TOKEN", "access_token")],
)
def test_a_variable_without_the_servers_prefix_is_not_read(
    environment: pytest.MonkeyPatch, name: str, field: str
) -> None:
    """PORT or HOST set for another program (a platform sets PORT for its web process) leave the server alone."""
    environment.setenv(name, {"PORT": "9000", "TIMEOUT": "12"}.get(name, "polar_oat_stray"))
    assert getattr(Settings(), field) == Settings.model_fields[field].get_default(call_default_factory=True)
