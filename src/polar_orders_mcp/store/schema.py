"""The store's tables, one definition for SQLite and PostgreSQL (the steps that upgrade older databases are in
`migrations/`)."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

meta = sa.Table(
    "pom_meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(256), nullable=False),
)

approvals = sa.Table(
    "pom_approvals",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("tool", sa.String(64), nullable=False),
    sa.Column("target", sa.Text, nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("facts", sa.Text, nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("display", sa.Text, nullable=False),
    sa.Column("amount", sa.BigInteger),
    sa.Column("currency", sa.String(8)),
    sa.Column("client", sa.Text, nullable=False),
    sa.Column("session", sa.Text),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("created_at", sa.Float(53), nullable=False),
    sa.Column("expires_at", sa.Float(53), nullable=False),
    sa.Column("decided_by", sa.Text),
    sa.Column("decided_at", sa.Float(53)),
    sa.Column("used_at", sa.Float(53)),
    sa.Column("outcome", sa.Text),
    sa.Column("proof", sa.Text),  # a passkey decision's assertion, JSON (see approvals/passkeys.py)
    sa.Column("boot", sa.String(32)),
    sa.Column("signature", sa.Text),
    sa.Column("asked_by", sa.Text),  # the person the asking client acts for (OAuth), when it acts for one
    sa.Column("mandate", sa.String(64)),  # the standing approval it was done under, when one covered it
    sa.Column("reason", sa.Text),  # the decider's own words on the decision, when they gave any
    sa.Column("client_name", sa.Text),  # the name the asking client gave itself (MCP clientInfo), shown only
    sa.Index("pom_approvals_state", "state", "created_at"),
    sa.Index("pom_approvals_target", "target", "tool", "created_at"),
    sa.Index("pom_approvals_mandate", "mandate", "decided_at"),
)

acts = sa.Table(
    "pom_acts",
    metadata,
    sa.Column("approval_id", sa.String(64), primary_key=True),
    sa.Column("tool", sa.String(64), nullable=False),
    sa.Column("target", sa.Text, nullable=False),
    sa.Column("currency", sa.String(8)),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("started_at", sa.Float(53), nullable=False),
    sa.Column("finished_at", sa.Float(53)),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Index("pom_acts_currency", "currency", "started_at"),
    sa.Index("pom_acts_target", "tool", "target", "started_at"),
    sa.Index("pom_acts_by_target", "target", "state"),
)

locks = sa.Table(
    "pom_locks",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("n", sa.BigInteger, nullable=False),
)

audit = sa.Table(
    "pom_audit",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("entry", sa.Text, nullable=False),
    sa.Column("signature", sa.Text),
)

audit_head = sa.Table(
    "pom_audit_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("signature", sa.Text),
)

console_sessions = sa.Table(
    "pom_console_sessions",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("approver", sa.String(128), nullable=False),
    sa.Column("csrf", sa.String(64), nullable=False),
    sa.Column("created_at", sa.Float(53), nullable=False),
    sa.Column("expires_at", sa.Float(53), nullable=False),
)

passkeys = sa.Table(
    "pom_passkeys",
    metadata,
    sa.Column("credential_id", sa.String(1400), primary_key=True),  # base64url of up to 1023 bytes
    sa.Column("approver", sa.String(128), nullable=False),
    sa.Column("public_key", sa.Text, nullable=False),  # base64url of the COSE key
    sa.Column("sign_count", sa.BigInteger, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float(53), nullable=False),
    sa.Column("last_used_at", sa.Float(53)),
    sa.Column("removed_at", sa.Float(53)),
    sa.Index("pom_passkeys_approver", "approver"),
)

passkey_nonces = sa.Table(
    "pom_passkey_nonces",
    metadata,
    sa.Column("nonce", sa.String(64), primary_key=True),
    sa.Column("token_hash", sa.String(64), nullable=False),  # the console session it was served to
    sa.Column("purpose", sa.String(96), nullable=False),  # "enrol", or "decide:<approval id>"
    sa.Column("expires_at", sa.Float(53), nullable=False),
)


oauth_clients = sa.Table(
    "pom_oauth_clients",
    metadata,
    sa.Column("client_id", sa.String(512), primary_key=True),  # registered: random; a metadata document: its URL
    sa.Column("info", sa.Text, nullable=False),  # the client's metadata, JSON
    sa.Column("kind", sa.String(16), nullable=False),  # "registered" (DCR) or "document" (CIMD)
    sa.Column("created_at", sa.Float(53), nullable=False),
    sa.Column("fetched_at", sa.Float(53)),
    sa.Column("fresh_until", sa.Float(53)),  # a metadata document: fetched again after this
)

oauth_requests = sa.Table(
    "pom_oauth_requests",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),  # in the sign-in and consent pages' URLs
    sa.Column("client_id", sa.String(512), nullable=False),
    sa.Column("params", sa.Text, nullable=False),  # the authorization request as checked, JSON
    sa.Column("person", sa.String(128)),  # who signed in for it
    sa.Column("browser_hash", sa.String(64)),  # SHA-256 of the cookie of the browser they signed in with
    sa.Column("csrf", sa.String(64)),
    sa.Column("expires_at", sa.Float(53), nullable=False),
)

oauth_codes = sa.Table(
    "pom_oauth_codes",
    metadata,
    sa.Column("code_hash", sa.String(64), primary_key=True),  # SHA-256 of the code: the code itself is never kept
    sa.Column("client_id", sa.String(512), nullable=False),
    sa.Column("person", sa.String(128), nullable=False),
    sa.Column("scopes", sa.Text, nullable=False),
    sa.Column("challenge", sa.String(128), nullable=False),
    sa.Column("redirect_uri", sa.Text, nullable=False),
    sa.Column("redirect_explicit", sa.Boolean, nullable=False),
    sa.Column("resource", sa.Text),
    sa.Column("expires_at", sa.Float(53), nullable=False),
    sa.Column("used_at", sa.Float(53)),
)

oauth_tokens = sa.Table(
    "pom_oauth_tokens",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),  # SHA-256 of the token: tokens are never kept
    sa.Column("kind", sa.String(8), nullable=False),  # "access" or "refresh"
    sa.Column("client_id", sa.String(512), nullable=False),
    sa.Column("person", sa.String(128), nullable=False),
    sa.Column("scopes", sa.Text, nullable=False),
    sa.Column("resource", sa.Text),
    sa.Column("family", sa.String(64), nullable=False),  # every token descended from one authorization code
    sa.Column("created_at", sa.Float(53), nullable=False),
    sa.Column("expires_at", sa.Float(53), nullable=False),
    sa.Column("used_at", sa.Float(53)),  # a refresh token, when it was exchanged (rotation)
    sa.Column("revoked_at", sa.Float(53)),
    sa.Index("pom_oauth_tokens_family", "family"),
)


mandates = sa.Table(
    "pom_mandates",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("terms", sa.Text, nullable=False),  # what it allows, JSON (records.MandateTerms)
    sa.Column("digest", sa.String(64), nullable=False),  # SHA-256 of the terms, as signed and shown
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("created_at", sa.Float(53), nullable=False),
    sa.Column("expires_at", sa.Float(53), nullable=False),
    sa.Column("revoked_at", sa.Float(53)),
    sa.Column("revoked_by", sa.String(128)),
    sa.Column("proof", sa.Text),  # the creator's passkey assertion over the terms, JSON, when one was asked
    sa.Column("signature", sa.Text),
    sa.Index("pom_mandates_open", "revoked_at", "expires_at"),
)
