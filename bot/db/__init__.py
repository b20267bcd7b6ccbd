"""The database: engine and sessions (``engine``), the transaction and its guard
(``transaction``), migrations (``schema``)."""

from bot.db.engine import (
    create_engine,
    create_session_factory,
    database_unreachable,
    dialect_of,
    truncate_wal,
)
from bot.db.schema import MIGRATION_LOCK, alembic_config, downgrade, upgrade
from bot.db.transaction import (
    connection_of,
    holding_transaction,
    transaction,
    transaction_open,
    write_lock,
)

__all__ = [
    "MIGRATION_LOCK",
    "alembic_config",
    "connection_of",
    "create_engine",
    "create_session_factory",
    "database_unreachable",
    "dialect_of",
    "downgrade",
    "holding_transaction",
    "transaction",
    "transaction_open",
    "truncate_wal",
    "upgrade",
    "write_lock",
]
