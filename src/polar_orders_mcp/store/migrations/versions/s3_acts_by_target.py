"""Schema 3: acts indexed by target alone (create_all makes no index on a table that exists)."""

from alembic import op

from polar_orders_mcp.store.schema import acts

revision = "3"
down_revision = "2"


def upgrade() -> None:
    next(i for i in acts.indexes if i.name == "pom_acts_by_target").create(op.get_bind(), checkfirst=True)
