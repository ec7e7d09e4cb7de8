"""Chat history in SQLite, one file in the data folder.

A message is acknowledged to its sender only after its transaction has
committed, so an acknowledged message survives ``kill -9`` of the server. The
client's own message id makes a resend after a reconnect idempotent: the unique
key (room, sender identity, client id) stores it once and returns the first copy.

SQLite calls block, so they run on one dedicated thread, which also keeps them
in order.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS chat_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    room TEXT NOT NULL,
    identity TEXT NOT NULL,
    participant_id TEXT NOT NULL,
    name TEXT NOT NULL,
    client_id TEXT NOT NULL,
    text TEXT NOT NULL,
    ts REAL NOT NULL,
    UNIQUE (room, identity, client_id)
);
CREATE INDEX IF NOT EXISTS chat_messages_room ON chat_messages (room, id);
"""


@dataclass(frozen=True)
class ChatMessage:
    id: int
    room: str
    identity: str
    participant_id: str
    name: str
    client_id: str
    text: str
    ts: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


_COLUMNS = "id, room, identity, participant_id, name, client_id, text, ts"


class ChatStore:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chat-store")
        self._db: sqlite3.Connection | None = None

    async def open(self) -> None:
        await self._run(self._open)

    async def close(self) -> None:
        if self._db is not None:
            await self._run(self._db.close)
            self._db = None
        self._executor.shutdown(wait=True)

    async def __aenter__(self) -> ChatStore:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def append(
        self, room: str, identity: str, participant_id: str, name: str, client_id: str, text: str
    ) -> tuple[ChatMessage, bool]:
        """Store a message; returns it and whether it is new (False for a resend)."""
        return await self._run(self._append, room, identity, participant_id, name, client_id, text)

    async def recent(self, room: str, limit: int) -> list[ChatMessage]:
        """The last ``limit`` messages of a room, oldest first."""
        return await self._run(self._recent, room, limit)

    async def _run(self, function: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    def _open(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk before the sender is told its message is stored.
        db.execute("PRAGMA synchronous=FULL")
        db.executescript(SCHEMA)
        self._db = db

    def _append(
        self, room: str, identity: str, participant_id: str, name: str, client_id: str, text: str
    ) -> tuple[ChatMessage, bool]:
        assert self._db is not None
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO chat_messages"
            " (room, identity, participant_id, name, client_id, text, ts)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (room, identity, participant_id, name, client_id, text, time.time()),
        )
        created = cursor.rowcount == 1
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM chat_messages WHERE room = ? AND identity = ? AND client_id = ?",
            (room, identity, client_id),
        ).fetchone()
        return ChatMessage(*row), created

    def _recent(self, room: str, limit: int) -> list[ChatMessage]:
        assert self._db is not None
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM chat_messages WHERE room = ? ORDER BY id DESC LIMIT ?",
            (room, limit),
        ).fetchall()
        return [ChatMessage(*row) for row in reversed(rows)]
