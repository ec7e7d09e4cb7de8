"""Publishing pre-encoded media: encode a clip once, then replay its RTP payloads.

Load tests need many publishers on few cores, and a test that proves the SFU
never transcodes needs publishers that never create an encoder. A
:class:`ReplaySender` writes stored payloads straight onto an aiortc sender's
transport (the same hooks the SFU uses), paced in real time, loops the clip,
restarts it at its keyframe when asked for one, and answers NACKs.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import pickle
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from aiortc import RTCPeerConnection, RTCRtpSender, RTCRtpTransceiver
from aiortc.codecs.h264 import H264Encoder
from aiortc.codecs.opus import OpusEncoder
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.rtp import (
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    AnyRtcpPacket,
    RtcpPsfbPacket,
    RtcpRtpfbPacket,
    RtpPacket,
)
from av import AudioFrame, VideoFrame

from sfu import aiortc_hooks as hooks
from sfu.tracks import ntp_now

HISTORY = 512
VIDEO_ENCODERS = {"video/VP8": Vp8Encoder, "video/H264": H264Encoder}


@dataclass
class EncodedFrame:
    payloads: list[bytes]
    timestamp: int  # in the codec's clock, from the clip's start


@dataclass
class EncodedClip:
    kind: str
    mime_type: str
    clock_rate: int
    frame_duration: float  # seconds
    frames: list[EncodedFrame]

    @property
    def duration_ticks(self) -> int:
        return self.frames[-1].timestamp + int(self.frame_duration * self.clock_rate)

    @property
    def packet_count(self) -> int:
        return sum(len(f.payloads) for f in self.frames)


def camera_like_picture(index: int, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """Frame ``index`` of a moving gradient with a bouncing disc and light fresh noise.

    libvpx spends its bitrate on it evenly, as on a camera: a keyframe of a few
    packets, then 2 to 5 packets a frame at 640x480 and 1 Mbit/s.
    """
    y, x = np.mgrid[0:height, 0:width]
    image = np.stack(
        [(x + 3 * index) % 256, (y + 2 * index) % 256, ((x + y) // 2 + index) % 256], axis=-1
    ).astype(np.int16)
    cx = int(width / 2 + width * 0.3 * np.cos(index / 20))
    cy = int(height / 2 + height * 0.3 * np.sin(index / 15))
    image[(x - cx) ** 2 + (y - cy) ** 2 < (height // 8) ** 2] = (255, 255, 255)
    image += rng.integers(-12, 13, image.shape, dtype=np.int16)
    return np.clip(image, 0, 255).astype(np.uint8)


def encode_vp8_clip(
    seconds: float = 2.0, width: int = 640, height: int = 480, fps: int = 30, bitrate: int = 1_000_000
) -> EncodedClip:
    """A camera-like clip encoded once with libvpx, as aiortc would send it; one keyframe at the start."""
    return encode_video_clip("video/VP8", seconds, width, height, fps, bitrate)


def encode_video_clip(
    mime_type: str, seconds: float, width: int, height: int, fps: int, bitrate: int
) -> EncodedClip:
    """A camera-like clip encoded once with aiortc's own encoder for ``mime_type`` (VP8 or H.264)."""
    encoder = VIDEO_ENCODERS[mime_type]()
    encoder.target_bitrate = bitrate
    rng = np.random.default_rng(7)
    frames = []
    for index in range(int(seconds * fps)):
        frame = VideoFrame.from_ndarray(camera_like_picture(index, width, height, rng), format="rgb24")
        frame.pts = index * 90000 // fps
        frame.time_base = fractions.Fraction(1, 90000)
        payloads, timestamp = encoder.encode(frame, force_keyframe=index == 0)
        frames.append(EncodedFrame(payloads, timestamp))
    return EncodedClip("video", mime_type, 90000, 1 / fps, frames)


def encode_opus_clip(seconds: float = 2.0, frequency: float = 440.0) -> EncodedClip:
    """A tone encoded once with libopus in 20 ms packets."""
    encoder = OpusEncoder()
    frames = []
    samples = 960
    for index in range(int(seconds * 50)):
        t = (np.arange(samples) + index * samples) / 48000
        wave = (0.3 * np.sin(2 * np.pi * frequency * t) * 32767).astype(np.int16)
        frame = AudioFrame.from_ndarray(wave.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = 48000
        frame.pts = index * samples
        frame.time_base = fractions.Fraction(1, 48000)
        payloads, timestamp = encoder.encode(frame)
        if payloads:
            frames.append(EncodedFrame(payloads, len(frames) * samples))
    return EncodedClip("audio", "audio/opus", 48000, 0.02, frames)


def cached_clip(cache_dir: Path, name: str, make: Callable[[], EncodedClip]) -> EncodedClip:
    """Load a clip from ``cache_dir`` or encode and store it."""
    path = cache_dir / f"{name}.pickle"
    if path.exists():
        with path.open("rb") as f:
            return pickle.load(f)
    clip = make()
    cache_dir.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        pickle.dump(clip, f)
    return clip


def add_replay_transceiver(pc: RTCPeerConnection, clip: EncodedClip) -> RTCRtpTransceiver:
    """A send-only transceiver that negotiates exactly the clip's codec."""
    transceiver = pc.addTransceiver(hooks.IdleTrack(clip.kind), direction="sendonly")
    capabilities = RTCRtpSender.getCapabilities(clip.kind).codecs
    preferred = [c for c in capabilities if c.mimeType.lower() == clip.mime_type.lower()][:1]
    preferred += [c for c in capabilities if c.mimeType.lower().endswith("/rtx")]
    transceiver.setCodecPreferences(preferred)
    return transceiver


class ReplaySender:
    """Replays ``clip`` on ``transceiver`` in real time, looping, without an encoder."""

    def __init__(self, transceiver: RTCRtpTransceiver, clip: EncodedClip) -> None:
        sender = transceiver.sender
        self.clip = clip
        self.packets_sent = 0
        self.keyframe_requests = 0
        self.retransmissions = 0
        self.sent_payloads: list[bytes] | None = None  # set to a list to record
        self._transceiver = transceiver
        self._transport = sender.transport
        self._write = hooks.transport_writer(sender.transport)
        self._extensions = hooks.extensions_map(sender.transport)
        self._report_clock = hooks.SenderReportClock(sender)
        self._ssrc, _ = hooks.sender_ssrcs(sender)
        hooks.divert_sender_rtcp(sender, self._handle_rtcp)
        self._history: list[RtpPacket | None] = [None] * HISTORY
        self._restart = False
        self._new_stream = False
        self._task: asyncio.Task[None] | None = None

    def restart_stream(self) -> None:
        """Continue as a new RTP stream (new SSRC, sequence and timestamp bases), as a
        browser does when it restarts its encoder; the clip restarts at its keyframe."""
        self._new_stream = True
        self._restart = True

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        codecs = hooks.negotiated_codecs(self._transceiver)
        payload_type = next(
            c.payloadType for c in codecs if c.mimeType.lower() == self.clip.mime_type.lower()
        )
        mid = self._transceiver.mid
        try:
            await hooks.wait_connected(self._transport)
        except ConnectionError:
            return
        seq = random.randint(0, 32767)
        base_ts = random.getrandbits(32)
        start = time.monotonic()
        elapsed_frames = 0
        loop_ticks = 0
        last_ts = 0
        while True:
            self._restart = False
            if self._new_stream:
                self._new_stream = False
                self._ssrc = random.getrandbits(32)
                hooks.change_sender_ssrc(self._transceiver.sender, self._ssrc)
                seq = random.randint(0, 32767)
                base_ts = random.getrandbits(32)
            for frame in self.clip.frames:
                if self._restart:
                    break
                due = start + elapsed_frames * self.clip.frame_duration
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                elapsed_frames += 1
                timestamp = (base_ts + loop_ticks + frame.timestamp) & 0xFFFFFFFF
                last = len(frame.payloads) - 1
                ntp = ntp_now()
                for index, payload in enumerate(frame.payloads):
                    packet = RtpPacket(
                        payload_type=payload_type,
                        marker=1 if index == last else 0,
                        sequence_number=seq,
                        timestamp=timestamp,
                        ssrc=self._ssrc,
                        payload=payload,
                    )
                    packet.extensions.mid = mid
                    packet.extensions.abs_send_time = (ntp >> 14) & 0x00FFFFFF
                    self._history[seq % HISTORY] = packet
                    try:
                        await self._write(packet.serialize(self._extensions))
                    except ConnectionError:
                        return
                    self._report_clock.sent(timestamp, len(payload), ntp)
                    if self.sent_payloads is not None:
                        self.sent_payloads.append(payload)
                    self.packets_sent += 1
                    seq = (seq + 1) & 0xFFFF
                last_ts = frame.timestamp
            loop_ticks += last_ts + int(self.clip.frame_duration * self.clip.clock_rate)

    async def _handle_rtcp(self, packet: AnyRtcpPacket) -> None:
        if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
            for seq in packet.lost:
                stored = self._history[seq % HISTORY]
                if stored is not None and stored.sequence_number == seq:
                    self.retransmissions += 1
                    with contextlib.suppress(ConnectionError):
                        await self._write(stored.serialize(self._extensions))
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
            self.keyframe_requests += 1
            self._restart = True
