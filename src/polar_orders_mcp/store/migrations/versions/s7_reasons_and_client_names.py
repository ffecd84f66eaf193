"""Schema 7: the decider's reason on a decision, the name the asking client gave itself, and approvals indexed
by target (a request shows the earlier decisions on its target)."""

from alembic import op

from polar_orders_mcp.store.migrations.columns import add_missing
from polar_orders_mcp.store.schema import approvals

revision = "7"
down_revision = "6"


def upgrade() -> None:
    add_missing("pom_approvals", reason="TEXT", client_name="TEXT")
    next(i for i in approvals.indexes if i.name == "pom_approvals_target").create(op.get_bind(), checkfirst=True)
