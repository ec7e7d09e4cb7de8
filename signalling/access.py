"""Who may enter which room with which grants: token checks, revocations, reconnect tokens.

The conference asks :class:`AccessControl` on every join; the admin API asks it
for every call. It keeps in memory which tokens a kick revoked (until they
expire) and mints the reconnect tokens that let a call outlive its first token.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace

from .chat import SYSTEM_IDENTITY
from .config import Config
from .protocol import ProtocolError
from .tokens import AccessToken, Grants, TokenError, reconnect_token, verify_token

RECONNECT_TOKEN_TTL = 600.0  # seconds a reconnect token is valid for, at least


class AccessControl:
    def __init__(self, config: Config) -> None:
        self._config = config
        self._revoked: dict[str, float] = {}  # revocation id -> when its tokens expire

    def verify(self, token: str) -> AccessToken:
        """A valid, unrevoked token, or :class:`TokenError` saying why not."""
        access = verify_token(token, self._config.api_keys)
        now = time.time()
        self._revoked = {r: until for r, until in self._revoked.items() if until > now}
        if access.revocation_id in self._revoked:
            raise TokenError("token_revoked", "this token belonged to a participant removed from the room")
        return access

    def admit(
        self, token: str, room_id: str, grant_changes: Mapping[str, Grants]
    ) -> tuple[AccessToken, Grants]:
        """The token's access to ``room_id`` and the grants that hold there now.

        ``grant_changes`` are the room's admin decisions, by revocation id: they
        replace the grants written in the token.
        """
        access = self.verify(token)
        if access.identity == SYSTEM_IDENTITY:
            raise TokenError("token_invalid", f"the identity {SYSTEM_IDENTITY!r} is reserved for the server")
        if access.room is None and not access.grants.admin:
            raise TokenError("token_invalid", "the token names no room")
        if access.room is not None and access.room != room_id:
            raise ProtocolError("room_mismatch", f"this token is for another room, not {room_id}")
        if not access.grants.join:
            raise ProtocolError("permission_denied", "this token does not allow joining")
        grants = grant_changes.get(access.revocation_id, access.grants)
        if grants.hidden:  # an invisible participant neither publishes nor chats
            grants = replace(grants, publish=frozenset(), data=False)
        return access, grants

    def revoke(self, token: AccessToken) -> None:
        """Refuse this token, and the reconnect tokens made from it, until they expire."""
        until = max(token.expires_at, time.time() + RECONNECT_TOKEN_TTL)
        self._revoked[token.revocation_id] = max(self._revoked.get(token.revocation_id, 0.0), until)

    def reconnect_token(self, token: AccessToken, grants: Grants, name: str) -> tuple[str, int] | None:
        """A fresh token for the same person and room with these grants, and its lifetime;
        None once the key that signed ``token`` has been retired."""
        secret = self._config.api_keys.secrets.get(token.api_key)
        if secret is None:
            return None
        ttl = int(max(RECONNECT_TOKEN_TTL, token.expires_at - time.time()))
        return reconnect_token(token, secret, grants, name, ttl), ttl
