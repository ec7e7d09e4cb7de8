"""Shared fixtures: a Huddle server on 127.0.0.1 and clients that use loopback only."""

from __future__ import annotations

import asyncio
import socket
import ssl
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from huddle_client import HuddleClient
from signalling.app import build_app, conference_key
from signalling.conference import Conference
from signalling.config import Config
from signalling.tokens import Grants, TokenError, mint_token

LOOPBACK = ["127.0.0.1"]


async def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds."""

    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RunningServer:
    url: str
    app: web.Application
    config: Config

    @property
    def conference(self) -> Conference:
        return self.app[conference_key]


async def start_server(config: Config) -> tuple[RunningServer, web.AppRunner]:
    app = build_app(config)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port)
    await site.start()
    return RunningServer(f"http://{config.host}:{config.port}", app, config), runner


def token_for(
    server: RunningServer | Config,
    room: str | None,
    identity: str | None = None,
    name: str | None = None,
    grants: Grants | None = None,
    **options,
) -> str:
    """A token signed with the server's first API key."""
    config = server if isinstance(server, Config) else server.config
    key, secret = config.api_keys.first()
    identity = identity or "ID_" + next(_identities)
    return mint_token(key, secret, identity, room, name=name, grants=grants, **options)


_identities = (f"t{n}" for n in range(1_000_000))


def token_expired(server: RunningServer, token: str) -> bool:
    """Whether ``server`` now refuses ``token`` as expired (and for no other reason)."""
    try:
        server.conference.access.verify(token)
    except TokenError as exc:
        return exc.code == "token_expired"
    return False


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    config = Config(port=free_port(), data_dir=tmp_path / "data", empty_room_timeout=0.5)
    running, runner = await start_server(config)
    try:
        yield running
    finally:
        await asyncio.wait_for(runner.cleanup(), timeout=20)


@pytest.fixture
async def clients(server: RunningServer) -> AsyncIterator[Callable[..., HuddleClient]]:
    """A factory of clients for ``server``, all closed at the end of the test."""
    async with AsyncExitStack() as stack:

        def make(name: str, **kwargs) -> HuddleClient:
            client = HuddleClient(server.url, name=name, host_addresses=LOOPBACK, **kwargs)
            stack.push_async_callback(client.close)
            return client

        yield make


class ServerProcess:
    """``huddle serve`` in its own process, for tests that kill or restart it.

    ``extra_args`` go to ``huddle serve``; with ``log_path`` its output (stdout and
    stderr) is written there, at ``log_level``. With ``ca_file`` the server speaks HTTPS
    (give it ``--self-signed`` or ``--tls-cert``/``--tls-key`` in ``extra_args``) and is
    trusted through that certificate, which ``--self-signed`` only writes once started.
    """

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        extra_args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        log_path: Path | None = None,
        log_level: str = "WARNING",
        ca_file: Path | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.ca_file = ca_file
        self.url = f"{'https' if ca_file else 'http'}://127.0.0.1:{self.port}"
        self.process: asyncio.subprocess.Process | None = None
        self._extra_args = list(extra_args)
        self._env = env
        self._log_path = log_path
        self._log_level = log_level

    def client_context(self) -> ssl.SSLContext | None:
        """An SSL context trusting ``ca_file`` (None for plain HTTP)."""
        return ssl.create_default_context(cafile=self.ca_file) if self.ca_file else None

    async def start(self, timeout: float = 20.0) -> None:
        output = self._log_path.open("ab") if self._log_path else None
        try:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "signalling.cli",
                "serve",
                "--port",
                str(self.port),
                "--data-dir",
                str(self.data_dir),
                "--log-level",
                self._log_level,
                *self._extra_args,
                stdout=output or asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.STDOUT if output else None,
                env=self._env,
            )
        finally:
            if output is not None:
                output.close()
        deadline = asyncio.get_running_loop().time() + timeout
        if self.ca_file is not None:
            await wait_until(lambda: self.ca_file.exists() or self.process.returncode is not None, timeout)
        connector = aiohttp.TCPConnector(ssl=self.client_context() or True)
        async with aiohttp.ClientSession(connector=connector) as http:
            while True:
                try:
                    async with http.get(self.url + "/healthz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                if asyncio.get_running_loop().time() > deadline or self.process.returncode is not None:
                    raise RuntimeError("huddle serve did not start")
                await asyncio.sleep(0.1)

    async def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await asyncio.wait_for(self.process.wait(), 10)

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                await self.kill()


@pytest.fixture
async def server_process(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    process = ServerProcess(tmp_path / "data")
    await process.start()
    try:
        yield process
    finally:
        await process.kill()
