"""Browser end-to-end fixtures: the real page in headless Debian Chromium, driven by Playwright.

Every participant is its own Chromium (its own fresh user-data dir), whose fake
camera plays a small generated .y4m of one solid colour and whose fake
microphone plays a generated tone, so a test can tell participants apart. The
page is driven only through its contract, docs/browser-client.md: URL
parameters (``autojoin=1``), element ids and attributes, and ``window.huddle``.
Media is proven from ``getStats()`` and the DOM (``probe.js``), never from sleeps.

Chromium comes from Debian (``scripts/test`` installs it when missing); Playwright
never downloads a browser here.
"""

from __future__ import annotations

import asyncio
import itertools
import tempfile
import wave
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import numpy as np
import pytest
from playwright.async_api import BrowserContext, Page, async_playwright
from playwright.async_api import TimeoutError as PlaywrightTimeout

from tests.conftest import RunningServer, wait_until

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PROBE = Path(__file__).with_name("probe.js")

CHROMIUM_ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--auto-select-desktop-capture-source=Entire screen",
]

# One camera colour and microphone tone per participant, in the order a test opens them.
PALETTE: list[tuple[tuple[int, int, int], float]] = [
    ((220, 40, 40), 440.0),  # red
    ((40, 190, 60), 660.0),  # green
    ((50, 70, 230), 880.0),  # blue
    ((230, 200, 40), 1100.0),  # yellow
]

WAIT = 20.0  # seconds: the bound of every wait for the page, unless a test says otherwise
TILE = "([p, k]) => window.__huddleTest.tile(p, k)"  # the tile of participant p's track kind k


def close_to(colour: list[int] | None, expected: tuple[int, int, int], tolerance: int = 45) -> bool:
    return colour is not None and all(abs(a - b) <= tolerance for a, b in zip(colour, expected, strict=True))


# --- generated fake devices ------------------------------------------------------------


def write_y4m(path: Path, rgb: tuple[int, int, int], width=160, height=120, fps=15, seconds=1) -> None:
    """A solid-colour I420 clip (BT.601, limited range), which Chromium's fake camera loops."""
    r, g, b = rgb
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    u = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    v = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
    luma, chroma = (height, width), (height // 2, width // 2)
    planes = b"".join(
        np.full(shape, round(value), np.uint8).tobytes()
        for shape, value in ((luma, y), (chroma, u), (chroma, v))
    )
    with path.open("wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420\n".encode())
        for _ in range(fps * seconds):
            f.write(b"FRAME\n" + planes)


def write_tone(path: Path, frequency: float, seconds=1, rate=48000) -> None:
    """A mono 16-bit sine (a whole number of periods, so it loops cleanly)."""
    t = np.arange(rate * seconds) / rate
    samples = (0.3 * np.sin(2 * np.pi * frequency * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())


@pytest.fixture(scope="session")
def fake_media(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, Path]]:
    folder = tmp_path_factory.mktemp("fake-media")
    files = []
    for i, (rgb, tone) in enumerate(PALETTE):
        video, audio = folder / f"camera-{i}.y4m", folder / f"microphone-{i}.wav"
        write_y4m(video, rgb)
        write_tone(audio, tone)
        files.append((video, audio))
    return files


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """test-artifacts/ at the repository root (git-ignored): screenshots."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


# --- polling the page ------------------------------------------------------------------


async def eventually(
    page: Page,
    script: str,
    arg: Any = None,
    check: Callable[[Any], bool] = bool,
    *,
    timeout: float = WAIT,
    what: str = "condition",
) -> Any:
    """Evaluate ``script`` until ``check`` holds for its result; fail after ``timeout`` s.

    For conditions that need ``await`` in the page (``getStats()``), which
    Playwright's ``wait_for_function`` does not wait for. The failure says what
    was last seen.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: Any = None
    while True:
        remaining = max(0.5, deadline - loop.time())
        last = await asyncio.wait_for(page.evaluate(script, arg), remaining)
        if check(last):
            return last
        if loop.time() >= deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s; last seen {last!r}")
        await asyncio.sleep(0.1)


@dataclass
class BrowserParticipant:
    """One person: one Chromium, one page."""

    name: str
    index: int
    context: BrowserContext
    page: Page
    log: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    participant_id: str | None = None

    @property
    def colour(self) -> tuple[int, int, int]:
        return PALETTE[self.index][0]

    async def goto(
        self, server: RunningServer, room: str, *, link: bool = True, token: str | None = None, **params: str
    ) -> None:
        """Open the page for ``room`` with ``autojoin=1``: as a room link ``/r/<room>``, or ``/?room=``;
        ``token`` goes in the link's fragment (``#token=``), as an invitation link carries it."""
        query = {"name": self.name, "autojoin": "1", **params}
        if link:
            url = f"{server.url}/r/{quote(room, safe='')}?{urlencode(query)}"
        else:
            url = f"{server.url}/?{urlencode({'room': room, **query})}"
        if token:
            url += f"#token={token}"
        await self.page.goto(url, wait_until="domcontentloaded")

    async def wait_joined(self, timeout: float = WAIT) -> str:
        """Wait for ``window.huddle.state == "joined"``; returns (and keeps) the participant id."""
        seen = await eventually(
            self.page,
            "() => ({state: window.huddle?.state, participantId: window.huddle?.participantId,"
            " joinError: document.getElementById('join-error')?.textContent?.trim()})",
            check=lambda s: s["state"] == "joined" and bool(s["participantId"]),
            timeout=timeout,
            what=f"{self.name} joins (window.huddle.state == 'joined')",
        )
        self.participant_id = seen["participantId"]
        return self.participant_id

    async def huddle(self, expression: str) -> Any:
        """Evaluate ``expression`` with ``h`` bound to window.huddle."""
        return await self.page.evaluate(f"(() => {{ const h = window.huddle; return {expression}; }})()")

    async def tile(self, participant_id: str, kind: str = "camera") -> dict[str, Any]:
        return await self.page.evaluate(TILE, [participant_id, kind])

    async def wait_tile(
        self, participant_id: str, check: Callable[[dict[str, Any]], bool], what: str, kind: str = "camera"
    ) -> dict[str, Any]:
        """Wait until ``check`` holds for the tile of ``participant_id``'s ``kind`` on this page."""
        return await eventually(self.page, TILE, [participant_id, kind], check, what=what)

    async def wait_count(self, selector: str, count: int, what: str) -> None:
        """Wait until the badge ``selector`` reads ``count``, and check that it is shown."""
        await eventually(
            self.page,
            "(s) => document.querySelector(s).textContent.trim()",
            selector,
            check=lambda text: text == str(count),
            what=what,
        )
        assert await self.visible(selector), f"{selector} is hidden"

    async def copy_invite(self, server_url: str, link: str) -> None:
        """Click #invite-button and wait until the clipboard holds ``link``."""
        await self.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server_url)
        await self.page.evaluate("() => navigator.clipboard.writeText('nothing yet')")
        await self.page.click("#invite-button")
        await eventually(
            self.page,
            "() => navigator.clipboard.readText()",
            check=lambda text: text == link,
            what=f"#invite-button copies {link}",
        )

    async def video_flowing(
        self,
        participant_id: str,
        kind: str = "camera",
        colour: tuple[int, int, int] | None = None,
        timeout: float = WAIT,
    ) -> dict[str, Any]:
        """Wait until the tile of ``participant_id`` shows video: width > 0 and framesDecoded
        (of the subscriber receiver behind the tile's video element) rising, and, given
        ``colour``, that colour on screen."""
        script = "([p, k]) => window.__huddleTest.tile(p, k)"
        what = f"{self.name} sees {kind} video of {participant_id}"

        def started(t: dict[str, Any]) -> bool:
            return (
                t["present"]
                and t["videoWidth"] > 0
                and (t["framesDecoded"] or 0) > 0
                and (colour is None or close_to(t["colour"], colour))
            )

        arg = [participant_id, kind]
        first = await eventually(self.page, script, arg, started, timeout=timeout, what=what)
        return await eventually(
            self.page,
            script,
            arg,
            lambda t: (
                t["present"]
                and t["videoWidth"] > 0
                and (t["framesDecoded"] or 0) >= first["framesDecoded"] + 5
                and t["framesShown"] > first["framesShown"]
            ),
            timeout=timeout,
            what=what + " (frames rising)",
        )

    async def audio_flowing(self, track_id: str, timeout: float = WAIT) -> dict[str, Any]:
        """Wait until ``audio[data-track-id]`` of ``track_id`` plays: packets rising, audioLevel > 0."""
        script = "t => window.__huddleTest.audio(t)"
        what = f"{self.name} hears track {track_id}"
        first = await eventually(
            self.page,
            script,
            track_id,
            lambda a: a["present"] and (a["packetsReceived"] or 0) > 0,
            timeout=timeout,
            what=what,
        )
        return await eventually(
            self.page,
            script,
            track_id,
            lambda a: (
                a["present"]
                and (a["packetsReceived"] or 0) >= first["packetsReceived"] + 10
                and (a["audioLevel"] or 0) > 0
            ),
            timeout=timeout,
            what=what + " (packets rising, level > 0)",
        )

    async def remote_tiles(self, kind: str = "camera") -> list[str]:
        tiles = await self.page.evaluate("() => window.__huddleTest.tiles()")
        return [t["participantId"] for t in tiles if t["kind"] == kind and not t["local"]]

    async def visible(self, selector: str) -> bool:
        return await self.page.evaluate("s => window.__huddleTest.visible(s)", selector)

    async def open_chat(self) -> None:
        if not await self.visible("#chat-panel"):
            await self.page.click("#chat-button")
        await self.page.wait_for_selector("#chat-panel", state="visible", timeout=WAIT * 1000)

    async def send_chat(self, text: str) -> None:
        """Type ``text`` into the chat input and press Enter (opening the panel first)."""
        await self.open_chat()
        await self.page.fill("#chat-input", text)
        await self.page.press("#chat-input", "Enter")

    async def chat(self) -> list[dict[str, Any]]:
        return await self.page.evaluate("() => window.__huddleTest.chat()")

    async def wait_chat(self, check: Callable[[list[dict]], bool], what: str) -> list[dict[str, Any]]:
        return await eventually(self.page, "() => window.__huddleTest.chat()", None, check, what=what)

    async def banner_history(self) -> list[dict[str, Any]]:
        return await self.page.evaluate("() => window.__huddleTest.bannerHistory")

    async def screenshot(self, path: Path, selector: str | None = None) -> None:
        """Save a screenshot (of ``selector``, or the page) once passing toasts have gone:
        the mouse is moved off the controls, and any ``#toasts`` notice gets up to 8 s."""
        await self.page.mouse.move(0, 0)
        with suppress(PlaywrightTimeout):
            await self.page.wait_for_function(
                "() => ![...document.querySelectorAll('#toasts > *')].some(t => t.checkVisibility())",
                timeout=8_000,
            )
        target = self.page.locator(selector) if selector else self.page
        assert await target.screenshot(path=str(path))


Opener = Callable[..., Awaitable[BrowserParticipant]]


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/test installs Debian's chromium package")
    return CHROMIUM


@pytest.fixture
async def browsers(
    server: RunningServer, fake_media: list[tuple[Path, Path]], chromium: Path
) -> AsyncIterator[Opener]:
    """``await browsers(name, room)``: a new Chromium that opens ``room`` with autojoin and joins.

    ``join=False`` only starts the browser (call ``goto``/``wait_joined`` yourself);
    ``link=False`` opens ``/?room=`` instead of the room link; ``chromium_args`` are
    added to the command line; other keyword arguments become URL parameters. Every
    browser is closed at the end.
    """
    counter = itertools.count()
    opened: list[BrowserParticipant] = []
    async with AsyncExitStack() as stack, async_playwright() as playwright:

        async def launch(name: str, chromium_args: Sequence[str]) -> BrowserParticipant:
            index = next(counter)
            video, audio = fake_media[index % len(fake_media)]
            profile = stack.enter_context(tempfile.TemporaryDirectory(prefix="huddle-chromium-"))
            context = await playwright.chromium.launch_persistent_context(
                profile,
                executable_path=str(chromium),
                headless=True,
                args=[
                    *CHROMIUM_ARGS,
                    *chromium_args,
                    f"--use-file-for-fake-video-capture={video}",
                    f"--use-file-for-fake-audio-capture={audio}",
                ],
                viewport={"width": 1280, "height": 720},
                timeout=30_000,
            )
            page = context.pages[0] if context.pages else await context.new_page()
            participant = BrowserParticipant(name, index, context, page)
            page.on("console", lambda m: participant.log.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: participant.page_errors.append(str(e)))
            await context.add_init_script(path=str(PROBE))
            opened.append(participant)
            return participant

        async def open_participant(
            name: str,
            room: str,
            *,
            join: bool = True,
            link: bool = True,
            chromium_args: Sequence[str] = (),
            **params,
        ):
            participant = await launch(name, chromium_args)
            if join:
                await participant.goto(server, room, link=link, **params)
                await participant.wait_joined()
            return participant

        try:
            yield open_participant
        finally:
            for p in opened:  # shown by pytest when the test fails
                print(f"--- {p.name} ({p.participant_id}) console ---", *p.log, sep="\n")
                if p.page_errors:
                    print(f"--- {p.name} page errors ---", *p.page_errors, sep="\n")

            async def close(context: BrowserContext) -> None:
                with suppress(Exception):
                    await asyncio.wait_for(context.close(), 15)

            await asyncio.gather(*(close(p.context) for p in opened))


def published_track(server: RunningServer, room: str, participant_id: str, source: str) -> str:
    """The track id ``participant_id`` publishes from ``source``, as the server knows it."""
    peer = server.conference.rooms[room].peers[participant_id]
    ids = [t.info.track_id for t in peer.tracks.values() if t.info.source == source]
    assert ids, f"{participant_id} publishes no {source}: {list(peer.tracks.values())}"
    return ids[0]


async def wait_published(
    server: RunningServer, room: str, participant_id: str, sources: set[str], timeout: float = WAIT
) -> None:
    """Wait until the server has ``participant_id`` publishing every one of ``sources``."""

    def has_all() -> bool:
        room_state = server.conference.rooms.get(room)
        peer = room_state.peers.get(participant_id) if room_state else None
        return peer is not None and sources <= {t.info.source for t in peer.tracks.values()}

    await wait_until(has_all, timeout)
