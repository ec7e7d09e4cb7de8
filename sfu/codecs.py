"""What the forwarder needs to know about codecs without decoding anything.

Only two questions are asked of a payload: does this packet start a keyframe
(so a new subscriber can start decoding here), and which codec to negotiate
with a subscriber so that the publisher's bytes can be passed on unchanged.
"""

from __future__ import annotations

from aiortc import RTCRtpSender
from aiortc.codecs import is_rtx
from aiortc.rtcrtpparameters import RTCRtpCodecCapability, RTCRtpCodecParameters

# Codecs a publisher may send, in the order Huddle prefers them. VP8 first: every
# browser decodes it, so a room never needs a second encoding.
PREFERRED_CODECS: dict[str, list[str]] = {
    "audio": ["audio/opus", "audio/PCMU", "audio/PCMA"],
    "video": ["video/VP8", "video/H264"],
}


def choose_codec(kind: str, codecs: list[RTCRtpCodecParameters]) -> RTCRtpCodecParameters | None:
    """Pick the codec a publisher will be asked to send, from those both sides support."""
    for mime in PREFERRED_CODECS.get(kind, []):
        for codec in codecs:
            if codec.mimeType.lower() == mime.lower():
                return codec
    return None


def subscriber_preferences(codec: RTCRtpCodecParameters, kind: str) -> list[RTCRtpCodecCapability]:
    """Codec preferences for a subscriber's transceiver: exactly the publisher's codec.

    Video also offers RTX so that retransmissions do not disturb the subscriber's
    loss statistics.
    """
    capabilities = RTCRtpSender.getCapabilities(kind).codecs
    same_mime = [c for c in capabilities if c.mimeType.lower() == codec.mimeType.lower()]
    exact = [c for c in same_mime if c.parameters == codec.parameters]
    chosen = (exact or same_mime)[:1]
    if not chosen:
        raise ValueError(f"no local capability for {codec.mimeType}")
    preferences: list[RTCRtpCodecCapability] = list(chosen)
    if kind == "video":
        preferences += [c for c in capabilities if is_rtx(c)]
    return preferences


def vp8_is_keyframe_start(payload: bytes) -> bool:
    """True if this VP8 RTP payload (RFC 7741) begins a keyframe."""
    size = len(payload)
    if size < 1:
        return False
    first = payload[0]
    start_of_partition = first & 0x10
    partition_id = first & 0x07
    if not start_of_partition or partition_id != 0:
        return False
    offset = 1
    if first & 0x80:  # X: extension byte present
        if size < 2:
            return False
        ext = payload[1]
        offset = 2
        if ext & 0x80:  # I: picture id, 7 or 15 bits
            if size <= offset:
                return False
            offset += 2 if payload[offset] & 0x80 else 1
        if ext & 0x40:  # L: TL0PICIDX
            offset += 1
        if ext & 0x30:  # T or K: TID/KEYIDX byte
            offset += 1
    if size <= offset:
        return False
    # VP8 payload header: the P bit is 0 for a keyframe (RFC 6386 section 9.1).
    return payload[offset] & 0x01 == 0


_H264_IDR = 5
_H264_SPS = 7
_H264_STAP_A = 24
_H264_FU_A = 28


def h264_is_keyframe_start(payload: bytes) -> bool:
    """True if this H.264 RTP payload (RFC 6184) carries an SPS or starts an IDR slice."""
    if not payload:
        return False
    nal_type = payload[0] & 0x1F
    if nal_type in (_H264_IDR, _H264_SPS):
        return True
    if nal_type == _H264_STAP_A:
        offset = 1
        while offset + 2 < len(payload):
            size = int.from_bytes(payload[offset : offset + 2], "big")
            inner = payload[offset + 2] & 0x1F
            if inner in (_H264_IDR, _H264_SPS):
                return True
            offset += 2 + size
        return False
    if nal_type == _H264_FU_A and len(payload) > 1:
        start = payload[1] & 0x80
        return bool(start) and (payload[1] & 0x1F) in (_H264_IDR, _H264_SPS)
    return False


def keyframe_detector(codec: RTCRtpCodecParameters):
    """The function telling keyframe starts for ``codec``; audio is always decodable."""
    mime = codec.mimeType.lower()
    if mime == "video/vp8":
        return vp8_is_keyframe_start
    if mime == "video/h264":
        return h264_is_keyframe_start
    return None
