"""Chromium forced to relay-only ICE joins through coturn over TLS (``turns:``) on 127.0.0.1.

coturn's certificate is self-signed (``ensure_self_signed``, for 127.0.0.1), and
Chromium checks the certificate of a TURN-over-TLS server like any other: without
being told to trust it, allocation fails with ``icecandidateerror`` 701. The
trusting browser gets ``--ignore-certificate-errors-spki-list`` with the SHA-256 of
this one certificate's public key (the flag takes effect because Playwright runs
Chromium with its own user-data dir): every other certificate is still checked.
The browser tests' usual flags (tests/browser/conftest.py) are otherwise unchanged.

As in test_turn_relay.py, a test-only init script (tests/browser/relay.py) wraps
RTCPeerConnection to set ``iceTransportPolicy: "relay"`` and records candidates and
candidate errors. Huddle hands out only the ``turns:`` URL.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from huddle_client.synthetic import ColourVideoTrack
from tests import turn_fixtures
from tests.browser.conftest import (
    BrowserParticipant,
    close_to,
    eventually,
    wait_published,
)
from tests.browser.relay import FORCE_RELAY, SELECTED_PAIRS
from tests.conftest import RunningServer
from tests.media_checks import tracks_by_sender, video_colour
from tests.turn_fixtures import Coturn, huddle_with_turn

coturn_tls = turn_fixtures.coturn_tls

BOT_COLOUR = (30, 200, 210)  # cyan: none of the browsers' colours


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


def relay_only(browser: BrowserParticipant) -> Awaitable[None]:
    return browser.context.add_init_script(script=FORCE_RELAY)


async def test_relay_only_chromium_joins_through_coturn_over_tls(server, browsers, clients, coturn_tls):
    bot = clients("Bot")
    await bot.join("tls")
    await bot.publish([(ColourVideoTrack(BOT_COLOUR), "camera")])

    pin = f"--ignore-certificate-errors-spki-list={spki_sha256(coturn_tls.tls.cert)}"
    alice = await browsers("Alice", "tls", join=False, chromium_args=[pin])
    await relay_only(alice)
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


async def test_chromium_not_trusting_coturns_certificate_gets_no_relay(server, browsers, clients, coturn_tls):
    """The same browser without the pin: allocation over TLS fails (701), there is no
    candidate at all, and no connection gets connected."""
    bot = clients("Bot")
    await bot.join("untrusted")
    await bot.publish([(ColourVideoTrack(BOT_COLOUR), "camera")])

    alice = await browsers("Alice", "untrusted", join=False)
    await relay_only(alice)
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
