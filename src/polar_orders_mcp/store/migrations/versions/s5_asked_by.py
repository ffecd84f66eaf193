"""Schema 5: who asked for an approval (the person an OAuth client acts for); the OAuth clients, pending
requests, codes and tokens of the embedded authorization server are new tables, made by create_all."""

from polar_orders_mcp.store.migrations.columns import add_missing

revision = "5"
down_revision = "4"


def upgrade() -> None:
    add_missing("pom_approvals", asked_by="TEXT")
