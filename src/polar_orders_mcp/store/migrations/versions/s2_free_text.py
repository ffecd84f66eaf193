"""Schema 2: free text loses its declared length (SQLite never enforced one: nothing to do there)."""

import sqlalchemy as sa
from alembic import op

revision = "2"
down_revision = "1"


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    for table, columns in (
        ("pom_approvals", ("target", "client", "session", "decided_by", "outcome")),
        ("pom_acts", ("target",)),
    ):
        conn.execute(sa.text(f"ALTER TABLE {table} " + ", ".join(f"ALTER COLUMN {c} TYPE text" for c in columns)))
