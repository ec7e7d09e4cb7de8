"""Keyframe detection on real encoder output and on hand-built H.264 payloads."""

from __future__ import annotations

from huddle_client.replay import encode_vp8_clip
from sfu.codecs import h264_is_keyframe_start, vp8_is_keyframe_start


def test_vp8_keyframe_only_at_the_start_of_keyframes():
    clip = encode_vp8_clip(seconds=0.4, width=160, height=120, fps=10, bitrate=300_000)
    first, *rest = clip.frames
    assert vp8_is_keyframe_start(first.payloads[0])
    assert not any(vp8_is_keyframe_start(p) for p in first.payloads[1:]), "only the first packet starts it"
    assert not any(vp8_is_keyframe_start(p) for frame in rest for p in frame.payloads)


def test_vp8_rejects_short_and_empty_payloads():
    assert not vp8_is_keyframe_start(b"")
    assert not vp8_is_keyframe_start(b"\x90")
    assert not vp8_is_keyframe_start(b"\x90\x80")


def test_h264_keyframe_forms():
    sps, idr, non_idr = bytes([0x67, 1, 2]), bytes([0x65, 1, 2]), bytes([0x41, 1, 2])
    assert h264_is_keyframe_start(sps)
    assert h264_is_keyframe_start(idr)
    assert not h264_is_keyframe_start(non_idr)
    stap_a = bytes([0x78]) + len(sps).to_bytes(2, "big") + sps + len(idr).to_bytes(2, "big") + idr
    assert h264_is_keyframe_start(stap_a)
    fu_a_start_idr = bytes([0x7C, 0x85, 0xAA])
    fu_a_middle_idr = bytes([0x7C, 0x05, 0xAA])
    assert h264_is_keyframe_start(fu_a_start_idr)
    assert not h264_is_keyframe_start(fu_a_middle_idr)
    assert not h264_is_keyframe_start(b"")
