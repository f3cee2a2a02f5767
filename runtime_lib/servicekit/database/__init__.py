"""SQLAlchemy 2.0 with production defaults: engines, sessions, bases and repositories.

Query construction stays in SQLAlchemy itself; this package owns configuration and
the CRUD every service used to rewrite.
"""

from servicekit.database._url import normalize_url
from servicekit.database.base import (
    NAMING_CONVENTION,
    Base,
    SoftDeleteMixin,
    TimestampMixin,
    UTCDateTime,
    VersionMixin,
    declarative_base,
    enum_type,
    enum_values,
    utcnow,
)
from servicekit.database.engine import (
    AsyncSessionLocal,
    SessionLocal,
    async_bind,
    async_dispose,
    bind,
    dispose,
    get_async_engine,
    get_engine,
)
from servicekit.database.errors import (
    DatabaseError,
    DatabaseTimeoutError,
    DatabaseUnavailableError,
    NotBoundError,
    NotFound,
    NotFoundError,
    RetryableConflictError,
    StaleVersionError,
)
from servicekit.database.outages import (
    async_wait_for_database,
    is_retryable,
    retrying,
    wait_for_database,
)
from servicekit.database.patch import PartialUpdate
from servicekit.database.repository import AsyncRepository, Page, Repository
from servicekit.database.session import (
    async_db_session,
    db_session,
    fastapi_async_session,
    fastapi_session,
)
from servicekit.database.settings import EngineSettings
from servicekit.database.values import (
    INT32_MAX,
    INT32_MIN,
    INT64_MAX,
    INT64_MIN,
    DecimalText,
    Float64,
    IndexKeyBytes,
    Int32,
    Int64,
    ISODate,
    RowId,
    RowVersion,
    StorableJson,
    StorableText,
    UTCTimestamp,
)

__all__ = [
    "INT32_MAX",
    "INT32_MIN",
    "INT64_MAX",
    "INT64_MIN",
    "NAMING_CONVENTION",
    "AsyncRepository",
    "AsyncSessionLocal",
    "Base",
    "DatabaseError",
    "DatabaseTimeoutError",
    "DatabaseUnavailableError",
    "DecimalText",
    "EngineSettings",
    "Float64",
    "ISODate",
    "IndexKeyBytes",
    "Int32",
    "Int64",
    "NotBoundError",
    "NotFound",  # old name of NotFoundError, kept for generated routers
    "NotFoundError",
    "Page",
    "PartialUpdate",
    "Repository",
    "RetryableConflictError",
    "RowId",
    "RowVersion",
    "SessionLocal",
    "SoftDeleteMixin",
    "StaleVersionError",
    "StorableJson",
    "StorableText",
    "TimestampMixin",
    "UTCDateTime",
    "UTCTimestamp",
    "VersionMixin",
    "async_bind",
    "async_db_session",
    "async_dispose",
    "async_wait_for_database",
    "bind",
    "db_session",
    "declarative_base",
    "dispose",
    "enum_type",
    "enum_values",
    "fastapi_async_session",
    "fastapi_session",
    "get_async_engine",
    "get_engine",
    "is_retryable",
    "normalize_url",
    "retrying",
    "utcnow",
    "wait_for_database",
]
