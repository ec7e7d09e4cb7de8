"""Chat history in SQLite, one file in the data folder.

A message is acknowledged to its sender only after its transaction has
committed, so an acknowledged message survives ``kill -9`` of the server. The
client's own message id makes a resend after a reconnect idempotent: the unique
key (room, sender identity, client id) stores it once and returns the first copy.

The file is used from one dedicated thread (``sqlite_thread.py``), which keeps
writes in order and commits them durably.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .sqlite_thread import SqliteThread

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
    sealed TEXT,
    UNIQUE (room, identity, client_id)
);
CREATE INDEX IF NOT EXISTS chat_messages_room ON chat_messages (room, id);
"""


def add_sealed_column(db: sqlite3.Connection) -> None:
    """Files written before end-to-end encrypted chat lack the ``sealed`` column."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(chat_messages)")}
    if "sealed" not in columns:
        db.execute("ALTER TABLE chat_messages ADD COLUMN sealed TEXT")


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
    # End-to-end encrypted chat: the envelope only the participants can open; text is "".
    sealed: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if self.sealed is None:
            del data["sealed"]
        return data


_COLUMNS = "id, room, identity, participant_id, name, client_id, text, ts, sealed"


class ChatStore(SqliteThread):
    def __init__(self, path: Path) -> None:
        super().__init__(path, SCHEMA, "chat-store", migrate=add_sealed_column)

    async def append(
        self,
        room: str,
        identity: str,
        participant_id: str,
        name: str,
        client_id: str,
        text: str,
        sealed: str | None = None,
    ) -> tuple[ChatMessage, bool]:
        """Store a message (``text``, or ``sealed`` with ``text`` empty); returns it and
        whether it is new (False for a resend)."""
        return await self.run(self._append, room, identity, participant_id, name, client_id, text, sealed)

    async def recent(self, room: str, limit: int) -> list[ChatMessage]:
        """The last ``limit`` messages of a room, oldest first."""
        return await self.run(self._recent, room, limit)

    def _append(
        self,
        room: str,
        identity: str,
        participant_id: str,
        name: str,
        client_id: str,
        text: str,
        sealed: str | None,
    ) -> tuple[ChatMessage, bool]:
        db = self.db
        cursor = db.execute(
            "INSERT OR IGNORE INTO chat_messages"
            " (room, identity, participant_id, name, client_id, text, ts, sealed)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (room, identity, participant_id, name, client_id, text, time.time(), sealed),
        )
        created = cursor.rowcount == 1
        row = db.execute(
            f"SELECT {_COLUMNS} FROM chat_messages WHERE room = ? AND identity = ? AND client_id = ?",
            (room, identity, client_id),
        ).fetchone()
        return ChatMessage(*row), created

    def _recent(self, room: str, limit: int) -> list[ChatMessage]:
        rows = self.db.execute(
            f"SELECT {_COLUMNS} FROM chat_messages WHERE room = ? ORDER BY id DESC LIMIT ?",
            (room, limit),
        ).fetchall()
        return [ChatMessage(*row) for row in reversed(rows)]
