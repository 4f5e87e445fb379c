"""Database engine construction and migrations, for SQLite (embedded) and PostgreSQL.

SQLite runs in WAL mode; write transactions start with ``BEGIN IMMEDIATE`` so that claim and
every other read-then-write take the write lock up front (no upgrade deadlocks between the API
process and the worker process). PostgreSQL uses row locks (``FOR UPDATE SKIP LOCKED``).

Reads are single statements (``fetch_all``/``fetch_first``/``scalar``). On SQLite they run
synchronously on the calling thread: a WAL reader never waits for a writer, and a primary-key
lookup takes microseconds, where the async driver's thread hand-offs cost a hundred times
more (bench/api_throughput.py). On PostgreSQL they go through asyncpg. The hottest reads (a
video by id: every poll) are :class:`PreparedRead` s, compiled once; on SQLite a reused one
answers from the rows it last read for as long as SQLite's change counter of the database
(``PRAGMA data_version``) says that no connection, of this process or another, has committed
since.

Wake-ups (PostgreSQL): a row that becomes queued (inserted, or put back) sends
``NOTIFY vidserve_jobs, '<model>'`` from a trigger in the schema (migration 0005), delivered when
its transaction commits. Workers LISTEN on a connection of their own (``vidserve.queue.wakeup``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import sqlalchemy
from sqlalchemy import Executable, Row, Select, Text, TypeDecorator, event
from sqlalchemy.engine import Connection, Dialect, Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

if TYPE_CHECKING:
    from alembic.config import Config

AnyRow = Row[*tuple[Any, ...]]
"""A result row of any shape (``Row[Any]`` would be a one-column row in SQLAlchemy 2.1)."""
T = TypeVar("T")


def normalise_url(url: str) -> str:
    """Accept ``sqlite:///`` and ``postgresql://`` and pick the async drivers."""
    parsed = make_url(url)
    if parsed.drivername in ("sqlite", "sqlite+aiosqlite"):
        return str(parsed.set(drivername="sqlite+aiosqlite"))
    if parsed.drivername in ("postgresql", "postgres", "postgresql+asyncpg"):
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise ValueError(f"unsupported database URL: {parsed.drivername}")


class PortableText(TypeDecorator[str]):
    """Text that may hold NUL characters on PostgreSQL too (PG's text type refuses U+0000).

    On PostgreSQL a value containing NUL (or starting with the marker) is stored as the marker
    followed by its JSON encoding, and decoded on the way back; every other value, and every
    value on SQLite, is stored as is. The column type in the schema stays ``TEXT``.
    """

    impl = Text
    cache_ok = True
    MARK = "\x01json:"

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None or dialect.name != "postgresql":
            return value
        if "\x00" in value or value.startswith(self.MARK):
            return self.MARK + json.dumps(value)
        return value

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        if value is not None and dialect.name == "postgresql" and value.startswith(self.MARK):
            decoded: str = json.loads(value[len(self.MARK):])
            return decoded
        return value


class PreparedRead(Generic[T]):
    """A SELECT built once (a module constant) for a hot read, run by
    :meth:`Database.first`, its row (a dict by column name) made into a ``T`` by ``convert``.

    On the SQLite reader it runs as SQLAlchemy compiled it for that dialect, on the driver's
    cursor, with each column's own result processor applied: the SQL and the values are
    SQLAlchemy's, only its per-execution machinery (execution context, cursor result, row
    objects), which costs three times the lookup itself (``bench/api_hot_path.py``), is left
    out. Elsewhere (PostgreSQL) it is executed as any statement. Its bound parameters are all
    named and given at each call; no expanding (``IN``) parameters.

    ``reuse=True`` (SQLite): what was read for the same parameters is returned again, without
    running the statement, while ``PRAGMA data_version`` on the reading connection is
    unchanged, that is while no other connection (the API's writes, a worker process) has
    committed anything since it was read. Any commit anywhere in the database forgets all of
    it. The same object then goes to every caller: ``convert`` makes an immutable one.
    """

    def __init__(
        self, statement: Select[Any], convert: Callable[[dict[str, Any]], T], *,
        reuse: bool = False,
    ) -> None:
        self.statement = statement
        self.convert = convert
        self.reuse = reuse
        self._compiled: dict[str, _Compiled] = {}

    def compiled(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(dialect.name)
        if found is None:
            found = self._compiled[dialect.name] = _Compiled(self.statement, dialect)
        return found


class _Compiled:
    def __init__(self, statement: Select[Any], dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        if compiled.positiontup is None:
            raise ValueError(f"{dialect.name}: not a positional paramstyle")
        self.sql = compiled.string
        self.dbapi: Any = dialect.loaded_dbapi
        binds = [compiled.binds[name] for name in compiled.positiontup]
        if any(bind.expanding for bind in binds):
            raise ValueError("a PreparedRead takes no expanding (IN) parameters")
        self.binds = tuple(
            (bind.key, bind.type.dialect_impl(dialect).bind_processor(dialect)) for bind in binds
        )
        self.names = tuple(statement.selected_columns.keys())
        self.processors = tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in statement.selected_columns
        )

    def parameters(self, params: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(
            params[key] if process is None else process(params[key]) for key, process in self.binds
        )

    def mapping(self, row: tuple[Any, ...]) -> dict[str, Any]:
        return {
            name: value if process is None else process(value)
            for name, value, process in zip(self.names, row, self.processors, strict=True)
        }


JOBS_CHANNEL = "vidserve_jobs"
"""The LISTEN/NOTIFY channel (the schema's trigger sends on it); the payload is the model."""


def asyncpg_dsn(url: str) -> str:
    """A libpq-style DSN for a plain asyncpg connection (the LISTEN connection)."""
    parsed = make_url(normalise_url(url))
    if parsed.get_backend_name() != "postgresql":
        raise ValueError("LISTEN/NOTIFY needs a postgresql URL")
    query = dict(parsed.query)
    if "ssl" in query and "sslmode" not in query:  # SQLAlchemy's asyncpg spelling
        query["sslmode"] = query.pop("ssl")
    return parsed.set(drivername="postgresql", query=query).render_as_string(
        hide_password=False
    )


def is_transient(exc: BaseException) -> bool:
    """True for errors of reaching the database (down, restarting, network), which say
    nothing about the job: retry or hand the job back, never fail it for them."""
    from sqlalchemy import exc as sa_exc

    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        return isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError)) or (
            type(exc.orig).__name__
            in ("ConnectionDoesNotExistError", "AdminShutdownError", "CannotConnectNowError",
                "ConnectionFailureError", "InterfaceError", "ConnectionRejectionError")
        )
    if isinstance(exc, (sa_exc.TimeoutError, sa_exc.DisconnectionError)):
        return True
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    import errno

    # network trouble that is not a ConnectionError (a disk full or a bug is not transient)
    return isinstance(exc, OSError) and exc.errno in (
        errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ETIMEDOUT, errno.EPIPE, errno.ENETDOWN
    )


async def connect_asyncpg(url: str) -> Any:
    """A plain asyncpg connection (not pooled) for LISTEN and session advisory locks."""
    import asyncpg  # type: ignore[import-untyped]

    return await asyncpg.connect(
        asyncpg_dsn(url), timeout=10, server_settings={"application_name": "vidserve"}
    )


def _postgres_engine(url: str, idle_in_transaction_timeout: float | None) -> AsyncEngine:
    server_settings = {"application_name": "vidserve"}
    if idle_in_transaction_timeout:
        # A process frozen (or cut off) in the middle of a transaction holds its row locks
        # until its session ends: let the server end it, so the job can be reaped.
        server_settings["idle_in_transaction_session_timeout"] = str(
            int(idle_in_transaction_timeout * 1000)
        )
    engine = create_async_engine(
        url,
        pool_pre_ping=True,  # after a database restart, stale pooled connections are replaced
        pool_size=10,
        max_overflow=20,
        pool_timeout=30,
        connect_args={"timeout": 10, "server_settings": server_settings},
    )
    return engine


def create_engine(url: str, *, idle_in_transaction_timeout: float | None = None) -> AsyncEngine:
    url = normalise_url(url)
    if not url.startswith("sqlite"):
        return _postgres_engine(url, idle_in_transaction_timeout)
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


class _SqliteReader:
    """One thread's reading connection (SQLAlchemy's, and the ``sqlite3`` one under it), with
    what its reused prepared reads returned and the ``data_version`` they were read at."""

    REUSED_ROWS = 1024  # at most this many results kept; past it, all are forgotten at once

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.driver: Any = conn.connection.driver_connection
        self.version: int | None = None
        self.rows: dict[tuple[int, tuple[Any, ...]], Any] = {}  # (read, arguments): result

    def unchanged(self) -> bool:
        """True if nothing was committed since the last call (then what is kept is
        current); otherwise forget it all. Read before the statement it guards, so a commit
        between the two makes the next call miss rather than keep a stale row."""
        cursor = self.driver.execute("PRAGMA data_version")
        (version,) = cursor.fetchone()
        cursor.close()
        if version == self.version:
            return True
        self.version = version
        self.rows.clear()
        return False


class Database:
    """The engine and the ways in: single-statement reads, ``read()`` and ``write()``."""

    def __init__(self, url: str, *, idle_in_transaction_timeout: float | None = None) -> None:
        """``idle_in_transaction_timeout`` (PostgreSQL): seconds after which the server ends
        a session that sits in an open transaction (a frozen process holding row locks)."""
        self.url = normalise_url(url)
        self.engine = create_engine(
            self.url, idle_in_transaction_timeout=idle_in_transaction_timeout
        )
        self.dialect = self.engine.dialect.name
        database = make_url(self.url).database
        self._reader = (
            _sync_sqlite_reader(self.url)
            if self.dialect == "sqlite" and database and database != ":memory:"
            else None
        )
        self._readers = threading.local()

    def _thread_reader(self) -> _SqliteReader:
        assert self._reader is not None
        found: _SqliteReader | None = getattr(self._readers, "reader", None)
        if found is None or found.conn.closed or found.conn.invalidated:
            found = self._readers.reader = _SqliteReader(self._reader.connect())
        return found

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """The SQLite reader's connection of this thread, kept open between reads (a pool
        checkout and return cost more than a primary-key lookup); each read ends with a
        rollback, so no read transaction outlives its statement."""
        conn = self._thread_reader().conn
        try:
            yield conn
            conn.rollback()
        except BaseException:
            self._readers.reader = None
            conn.close()
            raise

    async def fetch_all(
        self, statement: Executable, params: dict[str, Any] | None = None
    ) -> list[AnyRow]:
        if self._reader is not None:
            with self._read() as conn:
                return list(conn.execute(statement, params).all())
        async with self.engine.connect() as aconn:
            return list((await aconn.execute(statement, params)).all())

    async def fetch_first(
        self, statement: Executable, params: dict[str, Any] | None = None
    ) -> AnyRow | None:
        if self._reader is not None:
            with self._read() as conn:
                return conn.execute(statement, params).first()
        async with self.engine.connect() as aconn:
            return (await aconn.execute(statement, params)).first()

    async def first(self, read: PreparedRead[T], params: dict[str, Any]) -> T | None:
        """The first row of a prepared read, converted; None without one."""
        if self._reader is None:
            fetched = await self.fetch_first(read.statement, params)
            return None if fetched is None else read.convert(dict(fetched._mapping))
        reader = self._thread_reader()
        compiled = read.compiled(reader.conn.dialect)
        arguments = compiled.parameters(params)
        dbapi = compiled.dbapi
        key = (id(read), arguments)
        try:
            if read.reuse and reader.unchanged() and key in reader.rows:
                reused: T | None = reader.rows[key]
                return reused
            # a plain SELECT on the sqlite3 connection: no transaction of SQLAlchemy's, and
            # closing the cursor ends the statement and with it SQLite's read transaction
            cursor = reader.driver.execute(compiled.sql, arguments)
            found = cursor.fetchone()
            cursor.close()
        except dbapi.Error as exc:  # wrapped as SQLAlchemy wraps it (is_transient reads it)
            self._readers.reader = None
            reader.conn.close()
            raise DBAPIError.instance(compiled.sql, arguments, exc, dbapi.Error) from exc
        result = None if found is None else read.convert(compiled.mapping(found))
        if read.reuse:
            if len(reader.rows) >= reader.REUSED_ROWS:
                reader.rows.clear()
            reader.rows[key] = result
        return result

    async def scalar(self, statement: Executable, params: dict[str, Any] | None = None) -> Any:
        if self._reader is not None:
            with self._read() as conn:
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

    async def listen_connection(self) -> Any:
        """A new plain asyncpg connection, outside the pool (PostgreSQL only; the caller
        closes it). Used to LISTEN: a pooled connection would be handed to others."""
        return await connect_asyncpg(self.url)

    async def close(self) -> None:
        if self._reader is not None:
            reader = getattr(self._readers, "reader", None)
            if reader is not None:
                reader.conn.close()
            self._reader.dispose()
        await self.engine.dispose()


def alembic_config(url: str) -> Config:
    from alembic.config import Config  # here: only migrating needs alembic (a worker starts
    # without it, and a worker's start is on the embedded server's path to ready)

    config = Config()
    config.set_main_option("script_location", str(files("vidserve.store") / "migrations"))
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


MIGRATION_LOCK = 0x7669_6473_6D69_6772  # "vidsmigr": one migrating process at a time


def migrate(url: str, revision: str = "head") -> None:
    """Bring the schema up to ``revision``. Synchronous: call it before the event loop starts.

    On PostgreSQL several replicas may start at once: a session advisory lock makes them
    migrate one after the other (the later ones find the schema at ``revision``).
    """
    from alembic import command

    config = alembic_config(url)
    if make_url(normalise_url(url)).get_backend_name() != "postgresql":
        command.upgrade(config, revision)
        return

    async def locked() -> None:
        import asyncio

        conn = await connect_asyncpg(url)
        try:
            await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
            # alembic's env.py runs its own event loop: give it a thread of its own
            await asyncio.to_thread(command.upgrade, config, revision)
        finally:
            await conn.close()  # ends the session, which releases the lock

    import asyncio

    asyncio.run(locked())
