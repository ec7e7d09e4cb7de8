"""Admin decisions about tokens that must outlive a room and a restart.

Two kinds, each keyed by a token's revocation id (shared by the token a
participant joined with and every reconnect token made from it):

* revocations: a kicked participant's tokens are refused until they expire;
* grant changes: grants an admin set in a room replace the token's own there.

Checks read memory, so a join never waits for the disk; every change is also
written to SQLite (``access.sqlite3`` in the data folder) and loaded again at
start, minus what has expired. A cluster would keep these in Redis instead.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from .sqlite_thread import SqliteThread
from .tokens import Grants

SCHEMA = """
CREATE TABLE IF NOT EXISTS revocations (
    revocation_id TEXT PRIMARY KEY,
    until REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS grant_changes (
    room TEXT NOT NULL,
    revocation_id TEXT NOT NULL,
    grants TEXT NOT NULL,
    until REAL NOT NULL,
    PRIMARY KEY (room, revocation_id)
);
"""


class AccessStore(SqliteThread):
    def __init__(self, path: Path) -> None:
        super().__init__(path, SCHEMA, "access-store")
        self._revoked: dict[str, float] = {}  # revocation id -> until (epoch seconds)
        self._grants: dict[tuple[str, str], tuple[Grants, float]] = {}  # (room, revocation id) -> ...

    async def open(self) -> None:
        await super().open()
        revoked, grants = await self.run(self._load, time.time())
        self._revoked.update(revoked)
        self._grants.update(grants)

    # --- revocations --------------------------------------------------------------

    def is_revoked(self, revocation_id: str) -> bool:
        until = self._revoked.get(revocation_id)
        if until is not None and until <= time.time():
            del self._revoked[revocation_id]
            return False
        return until is not None

    def revoke(self, revocation_id: str, until: float) -> asyncio.Future[None]:
        """Refuse ``revocation_id`` until ``until``: at once in memory; the future is
        done when it is on disk."""
        until = max(self._revoked.get(revocation_id, 0.0), until)
        self._revoked[revocation_id] = until
        return asyncio.wrap_future(self.submit(self._save_revocation, revocation_id, until))

    # --- grant changes ------------------------------------------------------------

    def grants_in(self, room: str, revocation_id: str) -> Grants | None:
        """The grants an admin set for these tokens in ``room``, if any still holds."""
        found = self._grants.get((room, revocation_id))
        if found is None:
            return None
        grants, until = found
        if until <= time.time():
            del self._grants[(room, revocation_id)]
            return None
        return grants

    def change_grants(
        self, room: str, revocation_id: str, grants: Grants, until: float
    ) -> asyncio.Future[None]:
        """Replace the tokens' grants in ``room`` until ``until`` (memory now, disk by the future)."""
        self._grants[(room, revocation_id)] = (grants, until)
        claim = json.dumps(grants.to_claim())
        return asyncio.wrap_future(self.submit(self._save_grants, room, revocation_id, claim, until))

    def extend_grants(self, room: str, revocation_id: str, until: float) -> asyncio.Future[None] | None:
        """Keep a grant change at least until ``until`` (a new reconnect token lives that long)."""
        grants = self.grants_in(room, revocation_id)
        if grants is None or self._grants[(room, revocation_id)][1] >= until:
            return None
        return self.change_grants(room, revocation_id, grants, until)

    # --- on the database thread ---------------------------------------------------

    def _load(self, now: float) -> tuple[dict[str, float], dict[tuple[str, str], tuple[Grants, float]]]:
        db = self.db
        db.execute("DELETE FROM revocations WHERE until <= ?", (now,))
        db.execute("DELETE FROM grant_changes WHERE until <= ?", (now,))
        revoked = dict(db.execute("SELECT revocation_id, until FROM revocations").fetchall())
        grants = {
            (room, rid): (Grants.from_claim(json.loads(claim)), until)
            for room, rid, claim, until in db.execute(
                "SELECT room, revocation_id, grants, until FROM grant_changes"
            ).fetchall()
        }
        return revoked, grants

    def _save_revocation(self, revocation_id: str, until: float) -> None:
        self.db.execute(
            "INSERT INTO revocations (revocation_id, until) VALUES (?, ?)"
            " ON CONFLICT (revocation_id) DO UPDATE SET until = max(until, excluded.until)",
            (revocation_id, until),
        )

    def _save_grants(self, room: str, revocation_id: str, claim: str, until: float) -> None:
        self.db.execute(
            "INSERT INTO grant_changes (room, revocation_id, grants, until) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (room, revocation_id)"
            " DO UPDATE SET grants = excluded.grants, until = excluded.until",
            (room, revocation_id, claim, until),
        )
