"""Access tokens for synthetic participants: minted with an API key, from a command, or the dev door."""

from __future__ import annotations

import asyncio
import os
import shlex
from dataclasses import dataclass

from signalling.tokens import MEDIA_SOURCES, ApiKeys, Grants, mint_token

from .scenarios import Target

TOKEN_COMMAND_TIMEOUT = 10.0


class TokenError(Exception):
    pass


@dataclass(frozen=True)
class TokenSource:
    """How a worker gets a token; sent to workers over a pipe, never printed."""

    api_key: str | None = None
    api_secret: str | None = None
    token_command: str | None = None

    @classmethod
    def for_target(cls, target: Target) -> TokenSource:
        if target.api_key and target.api_secret:
            return cls(api_key=target.api_key, api_secret=target.api_secret)
        if target.token_command:
            return cls(token_command=target.token_command)
        return cls()

    async def token(self, room: str, identity: str, name: str, publish: bool) -> str | None:
        """A token for ``identity`` in ``room``; None means: ask the dev door (HuddleClient's default)."""
        if self.api_key and self.api_secret:
            grants = Grants(publish=frozenset(MEDIA_SOURCES) if publish else frozenset())
            return mint_token(self.api_key, self.api_secret, identity, room, name=name, grants=grants)
        if self.token_command:
            return await run_token_command(self.token_command, room, identity, name)
        return None


def metrics_headers(target: Target, lifetime: float) -> dict[str, str]:
    """The Authorization header /metrics needs on a server with API keys (none on a dev server)."""
    token = target.metrics_token
    if token is None and target.api_key and target.api_secret:
        admin = Grants(join=False, publish=frozenset(), subscribe=False, data=False, admin=True)
        key, secret = target.api_key, target.api_secret
        token = mint_token(key, secret, "huddle-bench", None, grants=admin, ttl=lifetime)
    return {"Authorization": f"Bearer {token}"} if token else {}


async def run_token_command(template: str, room: str, identity: str, name: str) -> str:
    """Run ``template`` through the shell with {room} {identity} {name} filled in (shell-quoted)."""
    command = template.format(room=shlex.quote(room), identity=shlex.quote(identity), name=shlex.quote(name))
    process = await asyncio.create_subprocess_shell(
        command,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), TOKEN_COMMAND_TIMEOUT)
    except TimeoutError:
        process.kill()
        await asyncio.wait_for(process.wait(), TOKEN_COMMAND_TIMEOUT)
        raise TokenError(f"token command timed out after {TOKEN_COMMAND_TIMEOUT} s") from None
    if process.returncode != 0:
        detail = stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
        raise TokenError(f"token command exited with {process.returncode}: {detail[0][:200]}")
    token = stdout.decode().strip()
    if not token:
        raise TokenError("token command printed nothing")
    return token


def keys_from_env() -> tuple[str, str] | None:
    """The first key and secret of $HUDDLE_API_KEYS, read as the server reads it."""
    text = os.environ.get("HUDDLE_API_KEYS")
    if not text:
        return None
    keys = ApiKeys.parse(text)
    return keys.first() if keys else None
