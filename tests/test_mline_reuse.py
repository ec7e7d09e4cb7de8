"""People coming and going do not grow a subscriber's SDP: inactive m-lines are reused."""

from __future__ import annotations

from huddle_client.synthetic import ColourVideoTrack
from tests.conftest import wait_until
from tests.media_checks import COLOURS, wait_for_colour


def m_lines(offer: dict) -> int:
    return sum(1 for line in offer["sdp"].splitlines() if line.startswith("m="))


async def test_a_new_publisher_reuses_the_m_line_of_one_who_left(server, clients):
    packets: list[tuple[int, int]] = []  # (ssrc, sequence number) the counting watcher sees
    watcher = clients("Watcher")
    counter = clients("Counter", packet_sink=lambda track, p: packets.append((p.ssrc, p.sequence_number)))
    await watcher.join("churn")
    await counter.join("churn")

    for round_ in range(4):
        guest = clients(f"Guest{round_}")
        await guest.join("churn")
        await guest.publish([(ColourVideoTrack(COLOURS[round_]), "camera")])
        track = next(t for t in await watcher.wait_for_tracks(1) if t.participant_id == guest.participant_id)
        await wait_for_colour(track, COLOURS[round_])
        seen = len(packets)
        await wait_until(lambda seen=seen: len(packets) > seen + 10)
        await guest.leave()
        await wait_until(lambda: not watcher.live_tracks())

    offers = [e for e in watcher.events if e["type"] == "subscribe_offer"]
    assert max(m_lines(o) for o in offers) == 1, "four guests in turn must share one m-line"
    # the counter saw one SSRC whose sequence numbers never jumped backwards or far ahead
    assert len({ssrc for ssrc, _ in packets}) == 1
    steps = [(b - a) & 0xFFFF for (_, a), (_, b) in zip(packets, packets[1:], strict=False)]
    assert all(0 < step < 50 for step in steps), sorted(steps)[-5:]
