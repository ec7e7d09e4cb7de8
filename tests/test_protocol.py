"""The message parser: every client message type validates, everything else is refused with a code."""

from __future__ import annotations

import json

import pytest

from signalling.protocol import CLIENT_MESSAGES, ProtocolError, parse_chat_message, parse_client_message

VALID = {
    "join": {"type": "join", "version": 1, "room": "r-1", "name": "Ann", "token": "eyJ.x.y"},
    "publish_offer": {
        "type": "publish_offer",
        "sdp": "v=0",
        "tracks": [{"mid": "0", "source": "camera"}],
        "e2ee": False,
    },
    "subscribe_answer": {"type": "subscribe_answer", "sdp": "v=0"},
    "ice_candidate": {
        "type": "ice_candidate",
        "target": "subscriber",
        "candidate": "candidate:1 1 udp 1 127.0.0.1 5000 typ host",
        "sdp_mid": "0",
        "sdp_mline_index": 0,
    },
    "mute": {"type": "mute", "track_id": "TR_1", "muted": True},
    "lobby_admit": {"type": "lobby_admit", "participant_id": "PA_1"},
    "lobby_reject": {"type": "lobby_reject", "participant_id": "PA_1"},
    "leave": {"type": "leave"},
    "ping": {"type": "ping", "request_id": "7"},
}


def test_every_message_type_has_a_valid_example():
    assert set(VALID) == set(CLIENT_MESSAGES)
    for message in VALID.values():
        assert parse_client_message(json.dumps(message)) == message


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{", "invalid_json"),
        (b"\xff\xfe", "invalid_json"),
        ("null", "invalid_message"),
        ('"join"', "invalid_message"),
        ('{"type": 5}', "invalid_message"),
        ('{"type": "nope"}', "unknown_type"),
        ('{"type": "join", "version": 1, "room": "r", "name": "", "token": "t"}', "invalid_message"),
        ('{"type": "join", "version": 1, "room": "r", "name": "n"}', "invalid_message"),
        ('{"type": "join", "version": 1, "room": "r", "token": "t", "admin": true}', "invalid_message"),
        ('{"type": "join", "version": 1, "room": "r", "token": "t", "identity": "x"}', "invalid_message"),
        (
            '{"type": "publish_offer", "sdp": "v=0", "tracks": [{"mid": "0", "source": "tv"}]}',
            "invalid_message",
        ),
        ('{"type": "ice_candidate", "target": "both", "candidate": ""}', "invalid_message"),
        ('{"type": "mute", "track_id": "TR_1", "muted": "yes"}', "invalid_message"),
        ("x" * 300_000, "message_too_large"),
        ("é" * 140_000, "message_too_large"),  # 280 000 bytes in UTF-8: the limit counts bytes
    ],
    ids=lambda value: value[:20] if isinstance(value, str) else repr(value)[:20],
)
def test_bad_messages_are_refused_with_a_code(raw, code):
    with pytest.raises(ProtocolError) as error:
        parse_client_message(raw)
    assert error.value.code == code
    assert error.value.message


def test_chat_payloads():
    assert parse_chat_message('{"type": "chat", "client_id": "c1", "text": "hi"}')["text"] == "hi"
    for raw, code in [
        ("hi", "invalid_json"),
        ('{"type": "chat", "client_id": "c1"}', "invalid_message"),
        ('{"type": "chat", "client_id": "c 1", "text": "x"}', "invalid_message"),
        (json.dumps({"type": "chat", "client_id": "c1", "text": "x" * 4001}), "message_too_large"),
        ("y" * 20000, "message_too_large"),
    ]:
        with pytest.raises(ProtocolError) as error:
            parse_chat_message(raw)
        assert error.value.code == code, raw[:40]
