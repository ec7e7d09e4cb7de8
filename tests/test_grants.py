"""The server enforces each grant of a token on live participants (never only the page)."""

from __future__ import annotations

import time

import pytest

from huddle_client import HuddleError
from huddle_client.synthetic import ColourVideoTrack, ToneAudioTrack
from signalling.tokens import Grants
from tests.conftest import token_for, wait_until

VIEWER = Grants(publish=frozenset())


@pytest.mark.parametrize(
    ("room", "token_args", "code"),
    [
        ("alpha", {"room": "beta"}, "room_mismatch"),
        ("alpha", {"room": "alpha", "grants": Grants(join=False)}, "permission_denied"),
        ("alpha", {"room": "alpha", "ttl": -60}, "token_expired"),
        ("alpha", {"room": "alpha", "not_before": time.time() + 3600}, "token_not_yet_valid"),
        ("alpha", {"room": None}, "token_invalid"),  # only an admin token may name no room
    ],
)
async def test_joins_are_refused_with_a_code(server, clients, room, token_args, code):
    insider = clients("Insider")
    await insider.join(room)
    intruder = clients("Intruder", token=token_for(server, **token_args))
    with pytest.raises(HuddleError) as refused:
        await intruder.join(room)
    assert refused.value.code == code
    assert [p["participant_id"] for p in insider.participants.values()] == []
    assert len(server.conference.rooms[room].peers) == 1


async def test_a_token_signed_with_another_secret_is_refused(server, clients):
    from signalling.tokens import mint_token

    forged = mint_token(server.config.api_keys.first()[0], "f" * 40, "mallory", "alpha")
    with pytest.raises(HuddleError) as refused:
        await clients("Mallory", token=forged).join("alpha")
    assert refused.value.code == "token_invalid"


async def test_the_token_decides_identity_and_name(server, clients):
    client = clients("Typed name", token=token_for(server, "names", identity="ann", name="Ann Example"))
    joined = await client.join("names")
    assert (joined["identity"], joined["name"]) == ("ann", "Ann Example")
    assert joined["grants"]["publish"] == ["camera", "microphone", "screen"]


async def test_publishing_a_source_not_granted_is_refused_and_nothing_is_forwarded(server, clients):
    mic_only = Grants(publish=frozenset({"microphone"}))
    speaker = clients("Speaker", token=token_for(server, "talk", grants=mic_only))
    listener = clients("Listener")
    await speaker.join("talk")
    await listener.join("talk")
    with pytest.raises(HuddleError) as refused:
        await speaker.publish([(ColourVideoTrack((200, 0, 0)), "camera")])
    assert refused.value.code == "permission_denied"
    assert "camera" in refused.value.message
    # Declaring the video as a microphone does not get it through either.
    speaker_pc = speaker.publisher_connection
    for transceiver in speaker_pc.getTransceivers():
        if transceiver.kind == "video":
            transceiver.direction = "inactive"
    await speaker.publish([(ToneAudioTrack(440), "microphone")])
    await listener.wait_for_tracks(1, timeout=10)
    assert [t.kind for t in listener.live_tracks()] == ["audio"]


async def test_a_video_track_declared_as_microphone_is_refused(server, clients):
    speaker = clients(
        "Speaker", token=token_for(server, "lies", grants=Grants(publish=frozenset({"microphone"})))
    )
    await speaker.join("lies")
    with pytest.raises(HuddleError) as refused:
        await speaker.publish([(ColourVideoTrack((0, 0, 200)), "microphone")])
    assert refused.value.code == "permission_denied"
    assert not server.conference.media._rooms["lies"].participants[speaker.participant_id].uptracks


async def test_without_the_subscribe_grant_no_media_is_sent(server, clients):
    packets: dict[str, int] = {"blind": 0, "seeing": 0}

    def counter(name: str):
        def count(track, packet) -> None:
            packets[name] += 1

        return count

    publisher = clients("Publisher")
    blind = clients(
        "Blind",
        token=token_for(server, "dark", grants=Grants(subscribe=False)),
        packet_sink=counter("blind"),
    )
    seeing = clients("Seeing", packet_sink=counter("seeing"))
    for client in (publisher, blind, seeing):
        await client.join("dark")
    await publisher.publish([(ColourVideoTrack((0, 200, 0)), "camera")])
    await wait_until(lambda: packets["seeing"] > 50, timeout=10)
    assert packets["blind"] == 0
    assert not blind.live_tracks()
    assert not any(e["type"] == "subscribe_offer" for e in blind.events)


async def test_without_the_data_grant_chat_is_refused_and_not_stored(server, clients):
    mute = clients("Quiet", token=token_for(server, "hush", grants=Grants(data=False)))
    other = clients("Other")
    await mute.join("hush")
    await other.join("hush")
    with pytest.raises(HuddleError) as refused:
        await mute.send_chat("let me speak")
    assert refused.value.code == "permission_denied"
    await other.send_chat("I may")
    late = clients("Late")
    history = (await late.join("hush"))["chat_history"]
    assert [m["text"] for m in history] == ["I may"]
    assert [m["text"] for m in other.chat_messages] == []


async def test_a_hidden_participant_is_not_announced_and_may_not_publish_or_chat(server, clients):
    visible = clients("Visible")
    await visible.join("watched")
    observer = clients("Observer", token=token_for(server, "watched", grants=Grants(hidden=True)))
    joined = await observer.join("watched")
    assert [p["name"] for p in joined["participants"]] == ["Visible"]
    assert joined["grants"]["publish"] == [] and joined["grants"]["data"] is False
    late = clients("Late")
    late_joined = await late.join("watched")
    assert sorted(p["name"] for p in late_joined["participants"]) == ["Visible"]
    with pytest.raises(HuddleError) as refused:
        await observer.publish([(ColourVideoTrack((9, 9, 9)), "camera")])
    assert refused.value.code == "permission_denied"
    await observer.close()
    await wait_until(lambda: observer.participant_id not in server.conference.rooms["watched"].peers)
    joins = [e["participant"]["name"] for e in visible.events if e["type"] == "participant_joined"]
    assert joins == ["Late"]
    assert not any(e["type"] == "participant_left" for e in visible.events)


async def test_a_viewer_token_still_receives_media(server, clients):
    publisher = clients("Publisher")
    viewer = clients("Viewer", token=token_for(server, "show", grants=VIEWER))
    await publisher.join("show")
    await viewer.join("show")
    await publisher.publish([(ColourVideoTrack((10, 20, 200)), "camera")])
    (track,) = await viewer.wait_for_tracks(1)
    assert track.kind == "video"
    with pytest.raises(HuddleError):
        await viewer.publish([(ToneAudioTrack(300), "microphone")])
