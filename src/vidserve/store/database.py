"""Database engine construction and migrations, for SQLite (embedded) and PostgreSQL.

SQLite runs in WAL mode; write transactions start with ``BEGIN IMMEDIATE`` so that claim and
every other read-then-write take the write lock up front (no upgrade deadlocks between the API
process and the worker process). PostgreSQL uses row locks (``FOR UPDATE SKIP LOCKED``).

Reads are single statements (``fetch_all``/``fetch_first``/``scalar``). On SQLite they run
synchronously on the calling thread: a WAL reader never waits for a writer, and a primary-key
lookup takes microseconds, where the async driver's thread hand-offs cost a hundred times
more (bench/api_throughput.py). On PostgreSQL they go through asyncpg.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path
from typing import Any

import sqlalchemy
from alembic import command
from alembic.config import Config
from sqlalchemy import Executable, Row, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool


def normalise_url(url: str) -> str:
    """Accept ``sqlite:///`` and ``postgresql://`` and pick the async drivers."""
    parsed = make_url(url)
    if parsed.drivername in ("sqlite", "sqlite+aiosqlite"):
        return str(parsed.set(drivername="sqlite+aiosqlite"))
    if parsed.drivername in ("postgresql", "postgres", "postgresql+asyncpg"):
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise ValueError(f"unsupported database URL: {parsed.drivername}")


def create_engine(url: str) -> AsyncEngine:
    url = normalise_url(url)
    if not url.startswith("sqlite"):
        return create_async_engine(url, pool_pre_ping=True)
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, poolclass=NullPool if not database else None)

    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy (not the driver) decide when transactions begin; see _begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _sync_sqlite_reader(url: str) -> Engine:
    """A plain pysqlite engine for single-statement reads on the event loop's thread."""
    engine = sqlalchemy.create_engine(
        make_url(url).set(drivername="sqlite+pysqlite"), pool_size=2, max_overflow=8
    )

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=30000")
        dbapi_connection.execute("PRAGMA query_only=1")

    return engine


class Database:
    """The engine and the ways in: single-statement reads, ``read()`` and ``write()``."""

    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        self.engine = create_engine(self.url)
        self.dialect = self.engine.dialect.name
        database = make_url(self.url).database
        self._reader = (
            _sync_sqlite_reader(self.url)
            if self.dialect == "sqlite" and database and database != ":memory:"
            else None
        )

    async def fetch_all(
        self, statement: Executable, params: dict[str, Any] | None = None
    ) -> list[Row[Any]]:
        if self._reader is not None:
            with self._reader.connect() as conn:
                return list(conn.execute(statement, params).all())
        async with self.engine.connect() as aconn:
            return list((await aconn.execute(statement, params)).all())

    async def fetch_first(
        self, statement: Executable, params: dict[str, Any] | None = None
    ) -> Row[Any] | None:
        if self._reader is not None:
            with self._reader.connect() as conn:
                return conn.execute(statement, params).first()
        async with self.engine.connect() as aconn:
            return (await aconn.execute(statement, params)).first()

    async def scalar(self, statement: Executable, params: dict[str, Any] | None = None) -> Any:
        if self._reader is not None:
            with self._reader.connect() as conn:
                return conn.execute(statement, params).scalar()
        async with self.engine.connect() as aconn:
            return (await aconn.execute(statement, params)).scalar()

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            if self.dialect == "sqlite":
                conn = await conn.execution_options(sqlite_begin="IMMEDIATE")
            async with conn.begin():
                yield conn

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.dispose()
        await self.engine.dispose()


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("vidserve.store") / "migrations"))
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


def migrate(url: str, revision: str = "head") -> None:
    """Bring the schema up to ``revision``. Synchronous: call it before the event loop starts."""
    command.upgrade(alembic_config(url), revision)
