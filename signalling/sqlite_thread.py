"""One SQLite file, used from one dedicated thread.

SQLite calls block, so the stores run them on their own thread, which also keeps
their writes in order. Commits are durable (WAL, ``synchronous=FULL``): what a
store has acknowledged survives ``kill -9`` of the server.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Self, TypeVar

T = TypeVar("T")


class SqliteThread:
    """The base of Huddle's stores: ``open``/``close`` or ``async with``; ``run`` work on the thread."""

    def __init__(
        self,
        path: Path,
        schema: str,
        name: str,
        migrate: Callable[[sqlite3.Connection], None] | None = None,
    ) -> None:
        self._path = path
        self._schema = schema
        self._migrate = migrate
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._db: sqlite3.Connection | None = None

    async def open(self) -> None:
        await self.run(self._open)

    async def close(self) -> None:
        if self._db is not None:
            await self.run(self._close)
        self._executor.shutdown(wait=True)

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def submit(self, function: Callable[..., T], *args: Any) -> Future[T]:
        """Run ``function(*args)`` on the database thread, after everything submitted before."""
        return self._executor.submit(function, *args)

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.wrap_future(self.submit(function, *args))

    @property
    def db(self) -> sqlite3.Connection:
        """The connection; only for functions running on the database thread."""
        assert self._db is not None, "the database is not open"
        return self._db

    def _open(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")  # a commit is on disk before it is acknowledged
        db.executescript(self._schema)
        if self._migrate is not None:
            self._migrate(db)
        self._db = db

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
