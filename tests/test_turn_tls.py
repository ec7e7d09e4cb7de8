"""TURN over TLS: a relay-only client whose only ICE server is ``turns:...?transport=tcp``.

For networks that let out nothing but TLS. coturn (tests/turn_fixtures.py, on
127.0.0.1) listens for TLS with a self-signed certificate for 127.0.0.1 made by
``ensure_self_signed``; the client trusts it through ``SSL_CERT_FILE`` (aioice
connects with ``ssl=True``, so asyncio's default context, which reads that
variable, checks the certificate and the 127.0.0.1 address in it). coturn
relays to the SFU over UDP as usual.

coturn also accepts plain TCP on its TLS port, so media flowing proves nothing
by itself: the test checks the TLS session under the client's TURN connection
(its peer certificate is coturn's) and what coturn logged, and a client that
does not trust the certificate gets no relay at all.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aioice import turn
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from huddle_client import HuddleClient
from huddle_client.synthetic import ColourVideoTrack
from signalling.tls import ensure_self_signed
from tests import turn_fixtures
from tests.conftest import RunningServer
from tests.media_checks import video_colour
from tests.turn_fixtures import Coturn, exchange_video, huddle_with_turn, nominated_pair, relayed_and_direct

coturn_tls = turn_fixtures.coturn_tls


@pytest.fixture
async def tls_turn_server(tmp_path: Path, coturn_tls: Coturn) -> AsyncIterator[RunningServer]:
    async with huddle_with_turn(tmp_path, coturn_tls.tls_url) as running:
        yield running


def coturn_cert_der(coturn: Coturn) -> bytes:
    assert coturn.tls is not None
    cert = x509.load_pem_x509_certificate(coturn.tls.cert.read_bytes())
    return cert.public_bytes(serialization.Encoding.DER)


def tls_session(connection: object) -> ssl.SSLObject:
    """The TLS session under an aioice connection's TURN allocation (aioice internals, tests only)."""
    (relay,) = [p for p in connection._protocols if p.local_candidate.type == "relay"]
    turn_transport = relay.transport  # aioice.turn.TurnTransport
    inner = turn_transport._TurnTransport__inner_protocol  # TurnClientTcpProtocol
    session = inner.transport.get_extra_info("ssl_object")
    assert session is not None, f"the TURN connection is not TLS: {inner.transport!r}"
    return session


async def test_relay_only_client_over_turns_exchanges_media(
    tls_turn_server, coturn_tls, monkeypatch: pytest.MonkeyPatch
):
    assert coturn_tls.tls is not None
    monkeypatch.setenv("SSL_CERT_FILE", str(coturn_tls.tls.cert))
    async with relayed_and_direct(tls_turn_server.url) as (relayed, direct):
        joined = await relayed.join("tls")
        (ice_server,) = joined["ice_servers"]
        assert ice_server["urls"] == [f"turns:127.0.0.1:{coturn_tls.tls_port}?transport=tcp"]
        sender, receiver = await exchange_video(relayed, direct, "tls")

        # Both of the relayed client's connections go through coturn, over TLS.
        for owner in (sender, receiver):
            connection, pair = nominated_pair(owner)
            assert pair.local_candidate.type == "relay"
            assert (connection.turn_ssl, connection.turn_transport) == (True, "tcp")
            assert connection.turn_server == ("127.0.0.1", coturn_tls.tls_port)
            assert pair.local_candidate.host == "127.0.0.1"
            assert pair.remote_candidate.type == "host"
            session = tls_session(connection)
            assert session.version() in ("TLSv1.2", "TLSv1.3")
            assert session.getpeercert(binary_form=True) == coturn_cert_der(coturn_tls)


async def test_client_that_does_not_trust_coturns_certificate_gets_no_relay(
    tls_turn_server, coturn_tls, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    """The same client trusting an unrelated certificate instead: its TLS handshake with
    coturn fails verification, so it gathers no candidate at all (relay-only), neither
    connection gets anywhere, and neither its chat channel nor the other participant's
    video reaches it."""
    other = ensure_self_signed(tmp_path / "unrelated", "127.0.0.1")
    monkeypatch.setenv("SSL_CERT_FILE", str(other.cert))
    async with relayed_and_direct(tls_turn_server.url) as (relayed, direct):
        await direct.join("untrusted")
        await direct.publish([(ColourVideoTrack((0, 0, 255)), "camera")])
        started = time.monotonic()
        # join() waits for the chat data channel on the publisher connection: it never opens.
        with pytest.raises(TimeoutError):
            await relayed.join("untrusted")
        assert time.monotonic() - started < relayed.timeout + 5
        # The server offered the other participant's video to the subscriber connection.
        await asyncio.wait_for(answered_subscription(relayed), 10)
        for pc in (relayed.publisher_connection, relayed._subscriber):
            assert pc.iceGatheringState == "complete"
            assert "a=candidate" not in pc.localDescription.sdp, pc.localDescription.sdp
            # aiortc starts no ICE without local candidates: the connection stays "new".
            assert pc.connectionState in ("new", "failed"), pc.connectionState
        tracks = relayed.live_tracks()
        assert len(tracks) == 1, tracks
        for track in tracks:
            with pytest.raises(TimeoutError):
                await video_colour(track, timeout=2)

        # Why: the certificate does not verify. With a context that trusts it, the same
        # credentials allocate.
        (server,) = relayed._ice_servers

        async def allocate(context: bool | ssl.SSLContext) -> None:
            transport, _ = await asyncio.wait_for(
                turn.create_turn_endpoint(
                    asyncio.DatagramProtocol,
                    server_addr=("127.0.0.1", coturn_tls.tls_port),
                    username=server.username,
                    password=server.credential,
                    ssl=context,
                    transport="tcp",
                ),
                10,
            )
            transport.close()

        with pytest.raises(ssl.SSLCertVerificationError):
            await allocate(True)
        assert coturn_tls.tls is not None
        await allocate(ssl.create_default_context(cafile=str(coturn_tls.tls.cert)))


async def answered_subscription(client: HuddleClient) -> None:
    while client._subscriber is None or client._subscriber.localDescription is None:
        await asyncio.sleep(0.05)
