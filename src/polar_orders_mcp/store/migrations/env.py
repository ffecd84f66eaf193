"""Alembic's entry point: the steps run on the connection the store passes, in the store's transaction."""

from alembic import context

from polar_orders_mcp.store.migrations import VERSION_TABLE

context.configure(
    connection=context.config.attributes["connection"], version_table=VERSION_TABLE, transactional_ddl=True
)
with context.begin_transaction():
    context.run_migrations()
