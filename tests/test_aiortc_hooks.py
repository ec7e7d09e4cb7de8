"""Every private part of aiortc/aioice that Huddle relies on is still where it was.

aiortc is pinned (pyproject.toml); these tests fail first when an upgrade moves
something, naming what moved. The forwarding tests then show it still works.
"""

from __future__ import annotations

import inspect

import aioice
import aioice.ice
import aiortc
import pytest
from aiortc import RTCRtpReceiver, RTCRtpSender, RTCRtpTransceiver
from aiortc.rtcdtlstransport import RTCDtlsTransport, RtpRouter
from aiortc.rtp import RtcpSrPacket

import sfu.network
from huddle_client.synthetic import ColourVideoTrack, ToneAudioTrack
from tests.conftest import wait_until
from tests.media_checks import first_frames


def test_pinned_versions():
    assert aiortc.__version__ == "1.16.0"
    assert aioice.__version__ == "0.13.0"


@pytest.mark.parametrize(
    ("cls", "method"),
    [
        (RTCRtpReceiver, "_handle_rtp_packet"),
        (RTCRtpReceiver, "_send_rtcp"),
        (RTCRtpReceiver, "_send_rtcp_pli"),
        (RTCRtpSender, "_handle_rtcp_packet"),
        (RTCDtlsTransport, "_send_rtp"),
        (RTCDtlsTransport, "_handle_rtp_data"),
    ],
)
def test_private_methods_exist(cls, method):
    assert inspect.iscoroutinefunction(getattr(cls, method)), f"{cls.__name__}.{method} moved"


def test_receiver_routes_through_instance_handler():
    """The DTLS transport must look the handler up on the receiver instance (so divert works)."""
    source = inspect.getsource(RTCDtlsTransport._handle_rtp_data)
    assert "receiver._handle_rtp_packet(" in source
    assert "recipient._handle_rtcp_packet(" in inspect.getsource(RTCDtlsTransport._handle_rtcp_data)
    assert "def route_rtcp" in inspect.getsource(RtpRouter)


def test_private_state_names():
    receiver_init = inspect.getsource(RTCRtpReceiver.__init__)
    for name in ("self.__remote_streams", "self.__rtcp_ssrc", "self.__rtx_ssrc"):
        assert name in receiver_init, f"RTCRtpReceiver lost {name}"
    sender_init = inspect.getsource(RTCRtpSender.__init__)
    for name in ("self.__ntp_timestamp", "self.__rtp_timestamp", "self.__octet_count", "self.__packet_count"):
        assert name in sender_init, f"RTCRtpSender lost {name}"
    assert "self._ssrc" in sender_init and "self._rtx_ssrc" in sender_init
    sender_rtcp = inspect.getsource(RTCRtpSender._run_rtcp)
    assert "self.__ntp_timestamp" in sender_rtcp and "self.__packet_count" in sender_rtcp
    dtls_init = inspect.getsource(RTCDtlsTransport.__init__)
    assert "self._rtp_header_extensions_map" in dtls_init
    assert "self._rtp_router" in dtls_init and hasattr(RtpRouter, "register_sender")
    router_init = inspect.getsource(RtpRouter.__init__)
    assert "self.receivers" in router_init and "self.ssrc_table" in router_init
    assert "def route_rtp" in inspect.getsource(RtpRouter)
    transceiver_init = inspect.getsource(RTCRtpTransceiver.__init__)
    assert "self._codecs" in transceiver_init and "self._headerExtensions" in transceiver_init


def test_aioice_host_addresses_are_configurable():
    assert "get_host_addresses(" in inspect.getsource(aioice.ice.Connection.gather_candidates)
    try:
        sfu.network.use_host_addresses(["127.0.0.1", "::1"])
        assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False) == ["127.0.0.1"]
        assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True) == ["127.0.0.1", "::1"]
    finally:
        sfu.network.use_host_addresses(["127.0.0.1"])


async def test_server_offers_only_configured_addresses(clients):
    publisher, subscriber = clients("P"), clients("S")
    await publisher.join("addr")
    await subscriber.join("addr")
    await publisher.publish([(ColourVideoTrack((1, 2, 3)), "camera")])
    await subscriber.wait_for_tracks(1)
    offer = next(e for e in subscriber.events if e["type"] == "subscribe_offer")
    candidates = [line for line in offer["sdp"].splitlines() if line.startswith("a=candidate:")]
    assert candidates and all(" 127.0.0.1 " in line for line in candidates), candidates


async def test_sender_reports_stay_true(clients):
    """The SFU bypasses aiortc's send loop; its RTCP sender reports must still be right."""
    publisher, subscriber = clients("P"), clients("S")
    await publisher.join("sr")
    await subscriber.join("sr")
    await publisher.publish([(ColourVideoTrack((9, 9, 9)), "camera"), (ToneAudioTrack(500), "microphone")])
    tracks = await subscriber.wait_for_tracks(2)
    reports: dict[str, list[RtcpSrPacket]] = {"audio": [], "video": []}
    for track in tracks:
        original = track.receiver._handle_rtcp_packet

        async def capture(packet, kind=track.kind, original=original):
            if isinstance(packet, RtcpSrPacket):
                reports[kind].append(packet)
            await original(packet)

        track.receiver._handle_rtcp_packet = capture
    await wait_until(lambda: all(len(r) >= 3 for r in reports.values()), timeout=15)

    for kind, clock_rate in (("audio", 48000), ("video", 90000)):
        first, last = reports[kind][1], reports[kind][-1]
        assert last.sender_info.packet_count > first.sender_info.packet_count > 0
        assert last.sender_info.octet_count > first.sender_info.octet_count
        wall = (last.sender_info.ntp_timestamp - first.sender_info.ntp_timestamp) / 2**32
        media = ((last.sender_info.rtp_timestamp - first.sender_info.rtp_timestamp) & 0xFFFFFFFF) / clock_rate
        assert wall > 0.5
        assert abs(wall - media) < 0.1, f"{kind}: {wall:.3f} s of wall clock vs {media:.3f} s of media"


def test_aioice_host_candidate_binding_is_where_sfu_network_replaces_it():
    """sfu.network re-does aioice's host-candidate step (media port range, announced address)."""
    import aioice.turn
    from aiortc.rtcicetransport import RTCIceGatherer

    original = sfu.network._aioice_get_component_candidates
    assert aioice.ice.Connection.get_component_candidates is sfu.network._get_component_candidates
    assert list(inspect.signature(original).parameters) == ["self", "component", "addresses", "timeout"]
    source = inspect.getsource(original)
    for piece in (
        "local_addr=(address, 0)",
        "lambda: StunProtocol(self)",
        "protocol.local_candidate = Candidate(",
        'candidate_foundation("host", "udp"',
        'candidate_priority(component, "host")',
        "self._protocols += host_protocols",
        "turn.UDP_SOCKET_BUFFER_SIZE",
        "if self.stun_server:",
        "if self.turn_server:",
    ):
        assert piece in source, f"aioice's get_component_candidates lost {piece!r}"
    # The returned candidates are what goes into the SDP; pairing uses protocol.local_candidate.
    gather = inspect.getsource(aioice.ice.Connection.gather_candidates)
    assert "self.get_component_candidates(" in gather and "self._local_candidates += candidates" in gather
    pairing = inspect.getsource(aioice.ice.Connection._pair_remote_candidate)
    assert "protocol.local_candidate.can_pair_with(" in pairing
    assert "await protocol.close()" in inspect.getsource(aioice.ice.Connection.close)  # ports come back
    assert isinstance(aioice.turn.UDP_SOCKET_BUFFER_SIZE, int)
    # aiortc gathers inside setLocalDescription, in tasks that inherit sfu_gathering()'s context.
    assert "await self.__gather()" in inspect.getsource(aiortc.RTCPeerConnection.setLocalDescription)
    assert "_connection.gather_candidates()" in inspect.getsource(RTCIceGatherer.gather)
    assert "self._connection" in inspect.getsource(RTCIceGatherer.__init__)  # tests/test_media_ports.py


async def test_a_lost_packet_is_retransmitted_to_the_right_one_of_two_video_receivers(clients):
    """With two video m-lines sharing the RTX payload type, aiortc's router alone dropped
    retransmissions (hooks.route_retransmissions): one lost packet then stalled that
    receiver's frames until its 512-packet jitter buffer overflowed, about 34 s at 15 fps."""
    alice, bob = clients("Alice"), clients("Bob")
    await alice.join("rtx")
    await bob.join("rtx")
    await alice.publish(
        [(ColourVideoTrack((200, 30, 30)), "camera"), (ColourVideoTrack((30, 30, 200)), "screen")]
    )
    received = await bob.wait_for_tracks(2, timeout=15)
    screen = next(t for t in received if t.source == "screen")
    await first_frames(screen, 3)

    receiver = screen.receiver
    rtx_to_media = receiver._RTCRtpReceiver__rtx_ssrc  # noqa: SLF001
    assert len(rtx_to_media) == 1, "the SFU offers RTX (an FID group) for the screen"
    ((rtx_ssrc, media_ssrc),) = rtx_to_media.items()
    transport = receiver.transport
    deliver = transport._handle_rtp_data
    dropped: list[int] = []

    async def lose_one(data: bytes, arrival_time_ms: int) -> None:
        if not dropped and int.from_bytes(data[8:12], "big") == media_ssrc:
            dropped.append(int.from_bytes(data[2:4], "big"))
            return
        await deliver(data, arrival_time_ms)

    transport._handle_rtp_data = lose_one
    await wait_until(lambda: dropped, timeout=5)
    # a second's worth of frames keeps coming: the hole was filled by a retransmission
    await first_frames(screen, 15, timeout=5)
    assert rtx_ssrc in receiver._RTCRtpReceiver__remote_streams, "the RTX stream reached the receiver"  # noqa: SLF001
