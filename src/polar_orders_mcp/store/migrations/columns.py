"""What several steps do: add the columns a table lacks, whatever an earlier, partial run left."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


def add_missing(table: str, **columns: str) -> None:
    """Add each column (name=SQL type) the table does not have yet."""
    conn = op.get_bind()
    present = {column["name"] for column in sa.inspect(conn).get_columns(table)}
    for name, kind in columns.items():
        if name not in present:
            conn.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN {name} {kind}"))
