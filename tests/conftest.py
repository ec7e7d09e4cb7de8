"""Shared fixtures: a Huddle server on 127.0.0.1 and clients that use loopback only."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

from huddle_client import HuddleClient
from signalling.app import build_app, conference_key
from signalling.conference import Conference
from signalling.config import Config

LOOPBACK = ["127.0.0.1"]


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
