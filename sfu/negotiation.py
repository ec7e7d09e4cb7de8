"""SDP and ICE helpers shared by the publisher and subscriber connections."""

from __future__ import annotations

from aiortc import RTCConfiguration, RTCIceCandidate, RTCPeerConnection
from aiortc.rtcconfiguration import RTCBundlePolicy
from aiortc.sdp import MediaDescription, SessionDescription, candidate_from_sdp

from .codecs import PREFERRED_CODECS
from .errors import InvalidCandidate, InvalidSdp, UnsupportedCodec


def server_configuration() -> RTCConfiguration:
    # An explicit empty list: left as None, aiortc would use a public STUN server.
    return RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


def parse_sdp(sdp: str, expected_type: str) -> SessionDescription:
    """Parse an SDP enough to refuse obvious garbage before aiortc applies it."""
    if not sdp.startswith("v=0"):
        raise InvalidSdp("SDP must start with v=0")
    try:
        description = SessionDescription.parse(sdp)
    except Exception as exc:  # aiortc raises several types on malformed lines
        raise InvalidSdp(f"unparseable SDP: {exc}") from exc
    if not description.media:
        raise InvalidSdp(f"{expected_type} has no media sections")
    for media in description.media:
        if not media.ice.usernameFragment or not media.ice.password:
            raise InvalidSdp(f"m-line {media.rtp.muxId!r} has no ICE credentials")
        if not media.dtls or not media.dtls.fingerprints:
            raise InvalidSdp(f"m-line {media.rtp.muxId!r} has no DTLS fingerprint")
    return description


def active_port_zero_mids(sdp: str) -> set[str]:
    """Mids of m-lines with port 0 that are nonetheless in use: ``a=bundle-only`` (RFC 8843).

    Firefox offers every m-line after the first this way under max-bundle; aiortc
    does not parse the attribute, so Huddle reads it from the SDP text.
    """
    mids: set[str] = set()
    for section in sdp.split("\nm=")[1:]:
        lines = [line.strip() for line in section.splitlines()]
        if "a=bundle-only" in lines:
            mids.update(line[len("a=mid:") :] for line in lines if line.startswith("a=mid:"))
    return mids


def m_line_in_use(media: MediaDescription, bundle_only: set[str]) -> bool:
    """False for an m-line refused or removed by port 0, unless it is bundle-only."""
    return media.port != 0 or media.rtp.muxId in bundle_only


def check_publishable_codecs(description: SessionDescription, bundle_only: set[str]) -> None:
    """Refuse an offer with an audio/video m-line Huddle cannot forward.

    aiortc fails half-way through applying such an offer, leaving the connection
    in a state no later offer can repair, so this runs first.
    """
    for media in description.media:
        if media.kind not in PREFERRED_CODECS or not m_line_in_use(media, bundle_only):
            continue
        supported = {m.lower() for m in PREFERRED_CODECS[media.kind]}
        offered = [c.mimeType for c in media.rtp.codecs]
        if not any(mime.lower() in supported for mime in offered):
            raise UnsupportedCodec(
                f"m-line {media.rtp.muxId!r} offers {', '.join(offered) or 'no codec'};"
                f" Huddle forwards {', '.join(PREFERRED_CODECS[media.kind])}"
            )


async def add_remote_candidate(
    pc: RTCPeerConnection, candidate: str, sdp_mid: str | None, sdp_mline_index: int | None
) -> None:
    """Add a trickled ICE candidate (the ``candidate:...`` line of RTCIceCandidate)."""
    if sdp_mid is None and sdp_mline_index is None:
        raise InvalidCandidate("an ICE candidate needs sdp_mid or sdp_mline_index")
    try:
        parsed: RTCIceCandidate = candidate_from_sdp(candidate.removeprefix("candidate:"))
    except Exception as exc:
        raise InvalidCandidate(f"cannot parse ICE candidate {candidate[:80]!r}") from exc
    parsed.sdpMid = sdp_mid
    parsed.sdpMLineIndex = sdp_mline_index
    try:
        await pc.addIceCandidate(parsed)
    except Exception as exc:
        raise InvalidCandidate(f"ICE candidate refused: {exc}") from exc
