"""Schema 1: the first tables (approvals, acts, spend, the audit and its head), as create_all made them.

The base every later step starts from; there is nothing to run: a database older than this does not exist.
"""

revision = "1"
down_revision = None


def upgrade() -> None:
    pass
