"""Who may enter which room with which grants: token checks, revocations, reconnect tokens.

The conference asks :class:`AccessControl` on every join; the admin API asks it
for every call. A kick revokes the participant's tokens and an admin's grant
change replaces a token's grants in its room; both are kept in an
:class:`~signalling.access_store.AccessStore`, so they hold after the room has
emptied and after a restart, until the tokens concerned expire. It also mints
the reconnect tokens that let a call outlive its first token.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

from .access_store import AccessStore
from .chat import SYSTEM_IDENTITY
from .config import Config
from .protocol import ProtocolError
from .tokens import AccessToken, Grants, TokenError, reconnect_token, verify_token

RECONNECT_TOKEN_TTL = 600.0  # seconds a reconnect token is valid for, at least


class AccessControl:
    def __init__(self, config: Config, store: AccessStore) -> None:
        self._config = config
        self._store = store

    def verify(self, token: str) -> AccessToken:
        """A valid, unrevoked token, or :class:`TokenError` saying why not."""
        access = verify_token(token, self._config.api_keys)
        if self._store.is_revoked(access.revocation_id):
            raise TokenError("token_revoked", "this token belonged to a participant removed from the room")
        return access

    def admit(self, token: str, room_id: str) -> tuple[AccessToken, Grants]:
        """The token's access to ``room_id`` and the grants that hold there now: the
        token's own, unless an admin changed them there."""
        access = self.verify(token)
        if access.identity == SYSTEM_IDENTITY:
            raise TokenError("token_invalid", f"the identity {SYSTEM_IDENTITY!r} is reserved for the server")
        if access.room is None and not access.grants.admin:
            raise TokenError("token_invalid", "the token names no room")
        if access.room is not None and access.room != room_id:
            raise ProtocolError("room_mismatch", f"this token is for another room, not {room_id}")
        if not access.grants.join:
            raise ProtocolError("permission_denied", "this token does not allow joining")
        changed = self._store.grants_in(room_id, access.revocation_id)
        grants = access.grants if changed is None else changed
        if grants.hidden:  # an invisible participant neither publishes nor chats
            grants = replace(grants, publish=frozenset(), data=False)
        return access, grants

    def revoke(self, token: AccessToken) -> asyncio.Future[None]:
        """Refuse this token, and the reconnect tokens made from it, until they expire
        (at once; the future is done when the decision is on disk)."""
        return self._store.revoke(token.revocation_id, self._chain_expiry(token))

    def change_grants(self, room_id: str, token: AccessToken, grants: Grants) -> asyncio.Future[None]:
        """From now on, ``grants`` hold in ``room_id`` for this token and its reconnect tokens."""
        return self._store.change_grants(room_id, token.revocation_id, grants, self._chain_expiry(token))

    def reconnect_token(
        self, room_id: str, token: AccessToken, grants: Grants, name: str
    ) -> tuple[str, int] | None:
        """A fresh token for the same person and room with these grants, and its lifetime;
        None once the key that signed ``token`` has been retired."""
        secret = self._config.api_keys.secrets.get(token.api_key)
        if secret is None:
            return None
        ttl = int(max(RECONNECT_TOKEN_TTL, token.expires_at - time.time()))
        self._store.extend_grants(room_id, token.revocation_id, time.time() + ttl)
        return reconnect_token(token, secret, grants, name, ttl), ttl

    @staticmethod
    def _chain_expiry(token: AccessToken) -> float:
        """When the last token of ``token``'s chain expires, unless it is refreshed again."""
        return max(token.expires_at, time.time() + RECONNECT_TOKEN_TTL)
