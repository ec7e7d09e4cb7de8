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
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from huddle_client.synthetic import ColourVideoTrack
from tests import turn_fixtures
from tests.browser.conftest import eventually
from tests.browser.relay import BOT_COLOUR, FORCE_RELAY, SELECTED_PAIRS, relay_only_call
from tests.conftest import RunningServer
from tests.turn_fixtures import Coturn, huddle_with_turn

coturn_tls = turn_fixtures.coturn_tls


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


async def test_relay_only_chromium_joins_through_coturn_over_tls(server, browsers, clients, coturn_tls):
    pin = f"--ignore-certificate-errors-spki-list={spki_sha256(coturn_tls.tls.cert)}"
    alice, pairs = await relay_only_call(server, browsers, clients, "tls", chromium_args=[pin])
    # Both of the page's connections use a relay candidate that coturn allocated
    # over TLS (relayProtocol "tls"), and media went through the selected pair.
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
    await alice.context.add_init_script(script=FORCE_RELAY)
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
