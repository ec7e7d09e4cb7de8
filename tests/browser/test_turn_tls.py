"""Chromium forced to relay-only ICE joins through coturn over TLS (``turns:``) on 127.0.0.1.

coturn's certificate is self-signed (``ensure_self_signed``, for 127.0.0.1), and
Chromium checks the certificate of a TURN-over-TLS server like any other: without
being told to trust it, allocation fails with ``icecandidateerror`` 701. The
trusting browser gets ``--ignore-certificate-errors-spki-list`` with the SHA-256 of
this one certificate's public key (the flag takes effect because Playwright runs
Chromium with its own user-data dir): every other certificate is still checked.
The browser tests' usual flags (tests/browser/conftest.py) are otherwise unchanged.

As in test_turn_relay.py, a test-only init script wraps RTCPeerConnection to set
``iceTransportPolicy: "relay"``; here it also records candidates and candidate
errors. Huddle hands out only the ``turns:`` URL.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, suppress
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from playwright.async_api import async_playwright

from huddle_client.synthetic import ColourVideoTrack
from tests import turn_fixtures
from tests.browser.conftest import (
    CHROMIUM_ARGS,
    PROBE,
    BrowserParticipant,
    close_to,
    eventually,
    wait_published,
)
from tests.conftest import RunningServer
from tests.media_checks import tracks_by_sender, video_colour
from tests.turn_fixtures import Coturn, huddle_with_turn

coturn_tls = turn_fixtures.coturn_tls

BOT_COLOUR = (30, 200, 210)  # cyan: none of the browsers' colours

FORCE_RELAY = """
(() => {
  const Native = window.RTCPeerConnection;
  const relay = (config) => ({ ...(config || {}), iceTransportPolicy: "relay" });
  const record = { connections: [], candidates: [], errors: [] };
  window.__relayTest = record;
  class RelayOnly extends Native {
    constructor(config, ...rest) {
      super(relay(config), ...rest);
      record.connections.push(this);
      this.addEventListener("icecandidate", (e) => {
        if (e.candidate && e.candidate.candidate) record.candidates.push(e.candidate.candidate);
      });
      this.addEventListener("icecandidateerror", (e) => {
        record.errors.push({ code: e.errorCode, url: e.url, text: e.errorText });
      });
    }
    setConfiguration(config) {
      return super.setConfiguration(relay(config));
    }
  }
  window.RTCPeerConnection = RelayOnly;
})();
"""

# For every RTCPeerConnection the page made: its configured policy and ICE servers,
# its states, and the local and remote candidates of the transport's selected pair.
SELECTED_PAIRS = """
async () => Promise.all(window.__relayTest.connections.map(async (pc) => {
  const stats = [...(await pc.getStats()).values()];
  const byId = new Map(stats.map((s) => [s.id, s]));
  const transport = stats.find((s) => s.type === "transport" && s.selectedCandidatePairId);
  const pair = transport && byId.get(transport.selectedCandidatePairId);
  const local = pair && byId.get(pair.localCandidateId);
  const remote = pair && byId.get(pair.remoteCandidateId);
  const config = pc.getConfiguration();
  return {
    policy: config.iceTransportPolicy,
    urls: (config.iceServers || []).flatMap((s) => [].concat(s.urls)),
    state: pc.connectionState,
    gathering: pc.iceGatheringState,
    local: local ? {
      type: local.candidateType, relayProtocol: local.relayProtocol ?? null, url: local.url ?? null,
    } : null,
    remote: remote ? { type: remote.candidateType, address: remote.address ?? remote.ip } : null,
    bytes: pair ? (pair.bytesSent || 0) + (pair.bytesReceived || 0) : 0,
  };
}))
"""

Launcher = Callable[..., Awaitable[BrowserParticipant]]


def spki_sha256(cert_path: Path) -> str:
    """base64(SHA-256(SubjectPublicKeyInfo)): what --ignore-certificate-errors-spki-list takes."""
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(spki).digest()).decode("ascii")


@pytest.fixture
async def server(tmp_path: Path, coturn_tls: Coturn) -> AsyncIterator[RunningServer]:
    """Overrides tests/conftest.py's ``server`` with TURN settings: only coturn's ``turns:`` URL."""
    async with huddle_with_turn(tmp_path, coturn_tls.tls_url) as running:
        yield running


@pytest.fixture
async def relay_browser(
    fake_media: list[tuple[Path, Path]], chromium: Path, coturn_tls: Coturn
) -> AsyncIterator[Launcher]:
    """``await relay_browser(name, trust_coturn=...)``: a relay-only Chromium (not yet on a page),
    launched as conftest's ``browsers`` does, plus the SPKI pin of coturn's key when trusting."""
    assert coturn_tls.tls is not None
    pin = spki_sha256(coturn_tls.tls.cert)
    counter = itertools.count()
    opened: list[BrowserParticipant] = []
    async with AsyncExitStack() as stack, async_playwright() as playwright:

        async def launch(name: str, *, trust_coturn: bool) -> BrowserParticipant:
            index = next(counter)
            video, audio = fake_media[index % len(fake_media)]
            profile = stack.enter_context(tempfile.TemporaryDirectory(prefix="huddle-chromium-"))
            trust = [f"--ignore-certificate-errors-spki-list={pin}"] if trust_coturn else []
            context = await playwright.chromium.launch_persistent_context(
                profile,
                executable_path=str(chromium),
                headless=True,
                args=[
                    *CHROMIUM_ARGS,
                    *trust,
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
            await context.add_init_script(script=FORCE_RELAY)
            opened.append(participant)
            return participant

        try:
            yield launch
        finally:
            for p in opened:  # shown by pytest when the test fails
                print(f"--- {p.name} ({p.participant_id}) console ---", *p.log, sep="\n")
            for p in opened:
                with suppress(Exception):
                    await p.context.close()


async def test_relay_only_chromium_joins_through_coturn_over_tls(server, relay_browser, clients, coturn_tls):
    bot = clients("Bot")
    await bot.join("tls")
    await bot.publish([(ColourVideoTrack(BOT_COLOUR), "camera")])

    alice = await relay_browser("Alice", trust_coturn=True)
    await alice.goto(server, "tls")
    await alice.wait_joined()

    # The browser shows the Python client's camera ...
    await alice.video_flowing(bot.participant_id, colour=BOT_COLOUR)
    # ... and the Python client decodes the browser's.
    await wait_published(server, "tls", alice.participant_id, {"camera"})
    await bot.wait_for_tracks(1, timeout=20)
    colour = await video_colour(tracks_by_sender(bot)[(alice.participant_id, "video")], timeout=20)
    assert close_to(colour, alice.colour), colour

    # Both of the page's connections use a relay candidate that coturn allocated
    # over TLS (relayProtocol "tls"), and media went through the selected pair.
    pairs = await eventually(
        alice.page,
        SELECTED_PAIRS,
        None,
        lambda ps: len(ps) >= 2 and all(p["local"] and p["bytes"] > 0 for p in ps),
        what="Alice's selected candidate pairs",
    )
    for pair in pairs:
        assert pair["policy"] == "relay", pair
        assert pair["urls"] == [coturn_tls.tls_url], pair
        assert pair["state"] == "connected", pair
        assert pair["local"]["type"] == "relay", pair
        assert pair["local"]["relayProtocol"] == "tls", pair
        assert pair["remote"]["type"] == "host", pair
    errors = await alice.page.evaluate("() => window.__relayTest.errors")
    assert errors == [], errors


async def test_chromium_not_trusting_coturns_certificate_gets_no_relay(
    server, relay_browser, clients, coturn_tls
):
    """The same browser without the pin: allocation over TLS fails (701), there is no
    candidate at all, and no connection gets connected."""
    bot = clients("Bot")
    await bot.join("untrusted")
    await bot.publish([(ColourVideoTrack(BOT_COLOUR), "camera")])

    alice = await relay_browser("Alice", trust_coturn=False)
    await alice.goto(server, "untrusted")
    await alice.wait_joined()

    record = await eventually(
        alice.page,
        "() => window.__relayTest",
        None,
        lambda r: len(r["errors"]) >= 2 and len(r["connections"]) >= 2,
        what="candidate errors on both of Alice's connections",
    )
    for error in record["errors"]:
        assert error["code"] == 701, error
        assert error["url"] == coturn_tls.tls_url, error
    pairs = await eventually(
        alice.page,
        SELECTED_PAIRS,
        None,
        lambda ps: len(ps) >= 2 and all(p["gathering"] == "complete" for p in ps),
        what="Alice's connections finish gathering",
    )
    record = await alice.page.evaluate("() => window.__relayTest")
    assert record["candidates"] == [], record["candidates"]
    for pair in pairs:
        assert pair["state"] != "connected", pair
        assert pair["local"] is None, pair
