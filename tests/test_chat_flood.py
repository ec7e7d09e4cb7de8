"""One client flooding the chat channel does not delay or lose anyone else's messages."""

from __future__ import annotations

import json
import time

from signalling.chat_store import ChatStore
from tests.conftest import wait_until


async def test_flood_from_one_client_leaves_others_chat_prompt(server, clients):
    flooder, speaker, listener = clients("Flooder"), clients("Speaker"), clients("Listener")
    for person in (flooder, speaker, listener):
        await person.join("flood")
    await speaker.send_chat("before")

    for i in range(3000):
        flooder.send_chat_raw(json.dumps({"type": "chat", "client_id": f"f{i}", "text": f"spam {i}"}))
    started = time.monotonic()
    ack = await speaker.send_chat("during the flood")
    delay = time.monotonic() - started
    await wait_until(lambda: "during the flood" in [m["text"] for m in listener.chat_messages])
    assert delay < 1.0, f"an innocent message took {delay:.2f} s to be stored"

    texts = [m["text"] for m in listener.chat_messages if m["participant_id"] == speaker.participant_id]
    assert texts == ["before", "during the flood"]

    store = ChatStore(server.config.chat_db_path)
    await store.open()
    try:
        stored = await store.recent("flood", 10_000)
    finally:
        await store.close()
    innocent = [m for m in stored if m.participant_id == speaker.participant_id]
    assert [m.text for m in innocent] == ["before", "during the flood"]
    assert innocent[-1].id == ack["id"]
    spam = [m.text for m in stored if m.participant_id == flooder.participant_id]
    assert spam == [f"spam {i}" for i in range(len(spam))], "what the flooder got stored is in order"
