"""Schema 4: passkeys (new tables, made by create_all), and on older tables:

- a decision's passkey proof (`pom_approvals.proof`);
- the run of the server that asked for each approval (`boot`; older rows have none, and read as asked by an
  earlier run);
- the signing key's signature on each decision, audit record and the chain's head. Rows written before stay
  unsigned; the store signs the head of the unsigned chain once, as the upgrade found it.
"""

from polar_orders_mcp.store.migrations.columns import add_missing

revision = "4"
down_revision = "3"


def upgrade() -> None:
    add_missing("pom_approvals", proof="TEXT", boot="VARCHAR(32)", signature="TEXT")
    add_missing("pom_audit", signature="TEXT")
    add_missing("pom_audit_head", signature="TEXT")
