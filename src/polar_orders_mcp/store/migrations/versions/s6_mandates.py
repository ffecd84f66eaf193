"""Schema 6: the standing approval (mandate) an approval was granted under; the mandates are a new table,
made by create_all."""

from alembic import op

from polar_orders_mcp.store.migrations.columns import add_missing
from polar_orders_mcp.store.schema import approvals

revision = "6"
down_revision = "5"


def upgrade() -> None:
    add_missing("pom_approvals", mandate="VARCHAR(64)")
    next(i for i in approvals.indexes if i.name == "pom_approvals_mandate").create(op.get_bind(), checkfirst=True)
