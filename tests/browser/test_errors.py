"""What the page says when it cannot join: a full room, a bad room link, a server that is gone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web

from signalling.config import Config
from tests.browser.conftest import WAIT, eventually
from tests.conftest import RunningServer, free_port, start_server, wait_until

JOIN_STATE = """() => ({
  state: window.huddle?.state,
  error: (document.getElementById("join-error")?.textContent || "").trim(),
  errorVisible: window.__huddleTest.visible("#join-error"),
  joinScreen: window.__huddleTest.visible("#join-screen"),
  callScreen: window.__huddleTest.visible("#call-screen"),
  busy: document.getElementById("join-button").disabled,
})"""


class OwnServer:
    """A Huddle server this test starts, stops and starts again on the same port."""

    def __init__(self, data_dir: Path, **config: object) -> None:
        self.config = Config(port=free_port(), data_dir=data_dir, empty_room_timeout=0.5, **config)
        self.running: RunningServer | None = None
        self.runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.config.port}"

    async def start(self) -> RunningServer:
        self.running, self.runner = await start_server(self.config)
        return self.running

    async def stop(self) -> None:
        runner, self.runner = self.runner, None
        if runner is not None:
            await asyncio.wait_for(runner.cleanup(), 20)


@pytest.fixture
async def own_server(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[OwnServer]]]:
    """``await own_server(**config)``: a started server of its own; stopped at the end.

    Ask for it before ``browsers`` so that the browsers close first."""
    servers: list[OwnServer] = []

    async def make(**config: object) -> OwnServer:
        server = OwnServer(tmp_path / f"own-{len(servers)}", **config)
        servers.append(server)
        await server.start()
        return server

    try:
        yield make
    finally:
        for server in servers:
            await server.stop()


async def test_room_full_is_told_on_the_join_screen(own_server, browsers):
    small = await own_server(max_participants_per_room=1)
    alice, bob = await asyncio.gather(
        browsers("Alice", "tiny", join=False), browsers("Bob", "tiny", join=False)
    )
    await alice.goto(small.running, "tiny")
    await alice.wait_joined()

    await bob.goto(small.running, "tiny")
    seen = await eventually(
        bob.page,
        JOIN_STATE,
        check=lambda s: s["state"] == "failed" and s["error"],
        what="Bob's page says the room is full",
    )
    assert "full" in seen["error"].lower(), seen
    assert seen["errorVisible"] and seen["joinScreen"] and not seen["callScreen"], seen
    assert not seen["busy"], "the join button is usable again"
    assert list(small.running.conference.rooms["tiny"].peers) == [alice.participant_id]
    assert await alice.huddle("h.state") == "joined"


async def test_bad_room_link_and_unreachable_server_are_told_and_the_page_recovers(own_server, browsers):
    server = await own_server()
    bob = await browsers("Bob", "unused", join=False)
    page = bob.page

    # A room link whose room name the server would refuse
    await page.goto(f"{server.url}/r/bad%20room!?name=Bob&autojoin=1", wait_until="domcontentloaded")
    seen = await eventually(page, JOIN_STATE, check=lambda s: s["error"], what="a bad room link is explained")
    assert "not valid" in seen["error"], seen
    assert seen["errorVisible"] and seen["joinScreen"] and not seen["callScreen"], seen
    assert seen["state"] != "joined"
    await page.click("#join-button")  # trying anyway changes nothing
    seen = await page.evaluate(JOIN_STATE)
    assert "not valid" in seen["error"] and seen["joinScreen"] and seen["state"] != "joined", seen
    assert not server.running.conference.rooms, "nothing reached the server"

    # The server goes away after the page loaded; joining says so instead of hanging
    await page.goto(f"{server.url}/r/comeback?name=Bob", wait_until="domcontentloaded")
    await eventually(page, JOIN_STATE, check=lambda s: s["joinScreen"] and not s["error"], what="join screen")
    await page.wait_for_function(
        "() => document.getElementById('preview').videoWidth > 0", timeout=WAIT * 1000
    )
    await server.stop()
    await page.click("#join-button")
    seen = await eventually(
        page,
        JOIN_STATE,
        check=lambda s: s["state"] == "failed" and s["error"],
        what="joining an unreachable server shows an error",
    )
    assert "reach" in seen["error"].lower(), seen
    assert seen["errorVisible"] and seen["joinScreen"] and not seen["callScreen"] and not seen["busy"], seen

    # The server is back: joining works from the same page
    running = await server.start()
    await page.click("#join-button")
    participant = await bob.wait_joined()
    assert participant in running.conference.rooms["comeback"].peers
    assert not (await page.evaluate(JOIN_STATE))["error"]

    # In the call, the server goes away again: the banner says so, and the page rejoins.
    await server.stop()
    await eventually(
        page,
        "() => window.__huddleTest.bannerHistory",
        check=lambda history: any(
            e["state"] in ("reconnecting", "error") and e["visible"] and e["text"] for e in history
        ),
        what="the page shows a reconnecting banner while the server is gone",
    )
    running = await server.start()
    await eventually(
        page,
        "() => [window.huddle.state, document.getElementById('banner').dataset.state,"
        " window.__huddleTest.visible('#banner')]",
        check=lambda s: s == ["joined", "ok", False],
        timeout=30,
        what="the page rejoins once the server is back, and the banner goes",
    )
    room = lambda: running.conference.rooms.get("comeback")  # noqa: E731
    await wait_until(lambda: room() is not None and len(room().peers) == 1, 10)
