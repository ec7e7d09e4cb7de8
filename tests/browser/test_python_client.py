"""A browser and a Python client (huddle_client) in one room: media and chat both ways."""

from __future__ import annotations

from huddle_client.synthetic import ColourVideoTrack, ToneAudioTrack
from tests.browser.conftest import PALETTE, close_to, published_track, wait_published
from tests.conftest import wait_until
from tests.media_checks import audio_tone, tracks_by_sender, video_colour

BOT_COLOUR = (30, 200, 210)  # cyan: none of the browsers' colours
BOT_TONE = 523.0


async def test_browser_and_python_client_exchange_media_and_chat(server, browsers, clients):
    bot = clients("Bot")
    await bot.join("mixed")
    await bot.publish([(ColourVideoTrack(BOT_COLOUR), "camera"), (ToneAudioTrack(BOT_TONE), "microphone")])
    alice = await browsers("Alice", "mixed", link=False)  # the /?room=&name=&autojoin=1 form

    # the browser shows and plays the Python client's media
    tile = await alice.video_flowing(bot.participant_id, colour=BOT_COLOUR)
    assert tile["name"].startswith("Bot"), tile
    await alice.audio_flowing(published_track(server, "mixed", bot.participant_id, "microphone"))

    # the Python client decodes the browser's camera (its colour) and microphone (its tone)
    await wait_published(server, "mixed", alice.participant_id, {"camera", "microphone"})
    await bot.wait_for_tracks(2)
    received = tracks_by_sender(bot)
    colour = await video_colour(received[(alice.participant_id, "video")])
    assert close_to(colour, alice.colour, 45), colour
    tone = await audio_tone(received[(alice.participant_id, "audio")])
    assert abs(tone - PALETTE[alice.index][1]) < 30, tone

    # chat both ways
    await alice.send_chat("hello bot")
    await wait_until(lambda: [m["text"] for m in bot.chat_messages] == ["hello bot"], 10)
    assert bot.chat_messages[0]["participant_id"] == alice.participant_id
    assert bot.chat_messages[0]["name"] == "Alice"
    await bot.send_chat("hello browser")
    shown = await alice.wait_chat(
        lambda ms: [m["text"] for m in ms] == ["hello bot", "hello browser"], "Alice shows the bot's reply"
    )
    assert shown[1]["sender"].startswith("Bot"), shown
