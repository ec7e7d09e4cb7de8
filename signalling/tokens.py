"""Access tokens: who may join which room, and what they may do there.

A token is a JWT (HS256) signed with one of the server's API secrets. Its claims:

* ``iss`` the API key whose secret signed it (several keys may be live, for rotation),
* ``sub`` the participant's identity, ``name`` a display name (optional),
* ``room`` the room it admits to (absent only for a server-wide admin token),
* ``exp`` / ``nbf`` / ``iat`` / ``jti`` as usual,
* ``grants``: ``join``, ``publish`` (the sources allowed), ``subscribe``, ``data``
  (chat), ``admin`` (room admin, or server admin without ``room``), ``hidden``.

An operator's own backend mints tokens with any JWT library; ``huddle token``
does it from the command line. See the README's "Access tokens".
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt

from .protocol import ProtocolError

ALGORITHM = "HS256"
DEFAULT_TOKEN_TTL = 6 * 3600  # seconds
CLOCK_LEEWAY = 10  # seconds of clock skew forgiven on exp/nbf
MEDIA_SOURCES = ("camera", "microphone", "screen")  # what a publish grant names
# Identities appear in admin API paths and TURN usernames: no "/", spaces or control characters.
IDENTITY_PATTERN = re.compile(r"[A-Za-z0-9_.@:+-]{1,64}")


class TokenError(ProtocolError):
    """A token that does not admit its bearer; ``code`` says why."""


@dataclass(frozen=True)
class Grants:
    join: bool = True
    publish: frozenset[str] = frozenset(MEDIA_SOURCES)
    subscribe: bool = True
    data: bool = True
    admin: bool = False
    hidden: bool = False

    def may_publish(self, source: str) -> bool:
        # Screen audio comes with a screen share: one grant covers both.
        return (source if source != "screen_audio" else "screen") in self.publish

    def to_claim(self) -> dict[str, Any]:
        return {
            "join": self.join,
            "publish": sorted(self.publish),
            "subscribe": self.subscribe,
            "data": self.data,
            "admin": self.admin,
            "hidden": self.hidden,
        }

    @classmethod
    def from_claim(cls, claim: Any) -> Grants:
        if not isinstance(claim, dict):
            raise TokenError("token_invalid", "the token's grants must be an object")
        defaults = cls(join=False, publish=frozenset(), subscribe=False, data=False)
        values: dict[str, Any] = {}
        for name in ("join", "subscribe", "data", "admin", "hidden"):
            value = claim.get(name, getattr(defaults, name))
            if not isinstance(value, bool):
                raise TokenError("token_invalid", f"grant {name!r} must be true or false")
            values[name] = value
        publish = claim.get("publish", [])
        if not isinstance(publish, list) or not all(s in MEDIA_SOURCES for s in publish):
            raise TokenError(
                "token_invalid", f"grant 'publish' must list sources among {list(MEDIA_SOURCES)}"
            )
        return cls(publish=frozenset(publish), **values)

    def updated(self, changes: Mapping[str, Any]) -> Grants:
        """These grants with some changed (claim names and formats, as in a token)."""
        return Grants.from_claim({**self.to_claim(), **changes})


@dataclass(frozen=True)
class AccessToken:
    """A verified token."""

    api_key: str
    identity: str
    name: str | None
    room: str | None
    grants: Grants
    expires_at: float
    # Identifies the token a participant first joined with (to refuse it after a kick)
    # without keeping it; reconnect tokens the server issues carry the same one.
    revocation_id: str


@dataclass
class ApiKeys:
    """API key -> secret. Secrets stay out of reprs (and so out of logs)."""

    secrets: dict[str, str] = field(default_factory=dict, repr=False)

    def __bool__(self) -> bool:
        return bool(self.secrets)

    def __repr__(self) -> str:
        return f"ApiKeys(keys={sorted(self.secrets)})"

    @classmethod
    def parse(cls, text: str) -> ApiKeys:
        """``key1: secret1`` lines or ``key1:secret1,key2:secret2``; ``#`` starts a comment."""
        keys: dict[str, str] = {}
        for part in text.replace(",", "\n").splitlines():
            part = part.split("#", 1)[0].strip()
            if not part:
                continue
            key, sep, secret = part.partition(":")
            key, secret = key.strip(), secret.strip()
            if not sep or not key or not secret:
                raise ValueError("API keys are written KEY: SECRET")
            if len(secret) < 32:
                raise ValueError(f"the secret of API key {key!r} is shorter than 32 characters")
            keys[key] = secret
        return cls(keys)

    @classmethod
    def load(cls, path: Path | None, env_value: str | None) -> ApiKeys:
        keys = cls()
        if path is not None:
            keys.secrets.update(cls.parse(path.read_text()).secrets)
        if env_value:
            keys.secrets.update(cls.parse(env_value).secrets)
        return keys

    @classmethod
    def generate(cls) -> tuple[str, str]:
        """A fresh key and secret."""
        return "API" + secrets.token_hex(6), secrets.token_urlsafe(32)

    def first(self) -> tuple[str, str]:
        key = next(iter(self.secrets))
        return key, self.secrets[key]


def mint_token(
    api_key: str,
    secret: str,
    identity: str,
    room: str | None,
    name: str | None = None,
    grants: Grants | None = None,
    ttl: float = DEFAULT_TOKEN_TTL,
    not_before: float | None = None,
    revocation_id: str | None = None,
) -> str:
    """A signed token; ``revocation_id`` (the ``rev`` claim) ties it to the token a
    participant first joined with, so that a kick refuses both."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": api_key,
        "sub": identity,
        "iat": now,
        "nbf": int(not_before) if not_before is not None else now,
        "exp": now + int(ttl),
        "jti": secrets.token_hex(8),
        "grants": (grants or Grants()).to_claim(),
    }
    if room is not None:
        claims["room"] = room
    if name:
        claims["name"] = name
    if revocation_id is not None:
        claims["rev"] = revocation_id
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_token(token: str, keys: ApiKeys) -> AccessToken:
    """Check signature, times and shape; raise :class:`TokenError` with a precise code."""
    try:
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise TokenError("token_invalid", "the token is not a well-formed JWT") from exc
    api_key = unverified.get("iss")
    secret = keys.secrets.get(api_key) if isinstance(api_key, str) else None
    if secret is None:
        raise TokenError("token_invalid", "the token was signed with an unknown or retired API key")
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            leeway=CLOCK_LEEWAY,
            options={"require": ["exp", "sub", "iss"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenError("token_expired", "the token has expired") from exc
    except jwt.ImmatureSignatureError as exc:
        raise TokenError("token_not_yet_valid", "the token is not valid yet") from exc
    except jwt.PyJWTError as exc:
        raise TokenError("token_invalid", f"the token is not valid: {exc}") from exc
    identity, room, name = claims.get("sub"), claims.get("room"), claims.get("name")
    if not isinstance(identity, str) or not IDENTITY_PATTERN.fullmatch(identity):
        raise TokenError(
            "token_invalid", "the token's subject (identity) must be 1-64 of A-Z a-z 0-9 _ . - @ : +"
        )
    if room is not None and not isinstance(room, str):
        raise TokenError("token_invalid", "the token's room must be a string")
    if name is not None and (not isinstance(name, str) or not 0 < len(name) <= 64):
        raise TokenError("token_invalid", "the token's name must be 1-64 characters")
    return AccessToken(
        api_key=api_key,
        identity=identity,
        name=name,
        room=room,
        grants=Grants.from_claim(claims.get("grants", {})),
        expires_at=float(claims["exp"]),
        revocation_id=_revocation_id(claims.get("rev"), token),
    )


def _revocation_id(claimed: Any, token: str) -> str:
    if isinstance(claimed, str) and 0 < len(claimed) <= 64:
        return claimed
    return hashlib.sha256(token.encode()).hexdigest()[:32]


def reconnect_token(access: AccessToken, secret: str, grants: Grants, name: str, ttl: float) -> str:
    """A fresh token for the same person, room and current grants, revoked with the original.

    The server hands these out during a call so that a reconnect works after the
    token the participant joined with has expired (as LiveKit refreshes tokens).
    """
    return mint_token(
        access.api_key,
        secret,
        access.identity,
        access.room,
        name,
        grants,
        ttl,
        revocation_id=access.revocation_id,
    )
