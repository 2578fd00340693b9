"""The one seam to the database: DuckDB today, PostgreSQL later (domain code sees only this)."""

from hub.storage.database import (
    BIGINT_MAX,
    Connection,
    Database,
    on_transaction_end,
    open_connection,
    run_in_transaction,
)
from hub.storage.migrations import MIGRATIONS, SchemaError, migrate, schema_version

__all__ = [
    "BIGINT_MAX",
    "MIGRATIONS",
    "Connection",
    "Database",
    "SchemaError",
    "migrate",
    "on_transaction_end",
    "open_connection",
    "run_in_transaction",
    "schema_version",
]
