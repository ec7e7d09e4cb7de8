"""End-to-end encrypted chat between Chromium pages: the same passphrase reads, another
sees a note, the server stores only envelopes, and the Python client (huddle_client/e2ee.py)
opens what a page sealed, so the page and the documented format agree."""

from __future__ import annotations

import asyncio
import sqlite3

from huddle_client.e2ee import ChatSeal
from tests.browser.conftest import WAIT
from tests.browser.test_e2ee import PASSPHRASE, SEALED, WRONG, open_room
from tests.conftest import wait_until

SECRET = "Board meeting moved to 9:00 — bring the ünaudited figures"
REPLY = "Noted <b>thanks</b>"
UNDECRYPTABLE = "Can't decrypt this message: is the passphrase the same?"
NO_MEDIA = {"camera": "off", "mic": "off"}  # four pages on two cores: chat only


def rows(server, room: str) -> list[tuple[str, str, str, str | None]]:
    with sqlite3.connect(server.config.chat_db_path) as db:
        return db.execute(
            "SELECT identity, client_id, text, sealed FROM chat_messages WHERE room = ? ORDER BY id", (room,)
        ).fetchall()


def texts(messages: list[dict]) -> list[str | None]:
    return [m["text"] for m in messages]


async def test_sealed_chat_reads_with_the_passphrase_and_is_stored_sealed(server, browsers, artifacts):
    server.conference.create_room("sealed", SEALED)
    (alice, alice_wire), (bob, _) = await asyncio.gather(
        open_room(browsers, server, "Alice", "sealed", PASSPHRASE, **NO_MEDIA),
        open_room(browsers, server, "Bob", "sealed", PASSPHRASE, **NO_MEDIA),
    )
    await alice.open_chat()
    placeholder = await alice.page.get_attribute("#chat-input", "placeholder")
    assert placeholder == "Message everyone (end-to-end encrypted)"
    await alice.send_chat(SECRET)
    await bob.wait_chat(lambda ms: texts(ms) == [SECRET], "Bob reads Alice's sealed message")
    await bob.send_chat(REPLY)
    on_alice = await alice.wait_chat(
        lambda ms: texts(ms) == [SECRET, REPLY] and all(m["id"] for m in ms),
        "Alice reads both, her own completed by its ack",
    )
    assert on_alice[0]["sender"].startswith("Alice") and on_alice[1]["sender"].startswith("Bob")

    # the server holds envelopes only, and they open with the passphrase (Python side)
    await wait_until(lambda: len(rows(server, "sealed")) == 2, timeout=WAIT)
    stored = rows(server, "sealed")
    seal = ChatSeal(PASSPHRASE, "sealed")
    for (identity, client_id, text, sealed), expected in zip(stored, [SECRET, REPLY], strict=True):
        assert text == "" and sealed and "Board" not in sealed and "Noted" not in sealed
        assert seal.open(identity, client_id, sealed).text == expected
    assert not alice_wire.mentions("Board meeting"), "chat goes on the data channel, sealed"

    # a wrong passphrase shows a note in place of each message, and its own message is
    # a note for the others; a late joiner with the passphrase reads the history
    carol, _ = await open_room(browsers, server, "Carol", "sealed", WRONG, **NO_MEDIA)
    await carol.open_chat()
    await carol.wait_chat(
        lambda ms: texts(ms) == [UNDECRYPTABLE, UNDECRYPTABLE], "Carol sees notes, not the text"
    )
    await carol.send_chat("can anyone read me?")
    await bob.wait_chat(lambda ms: texts(ms) == [SECRET, REPLY, UNDECRYPTABLE], "Bob cannot read Carol")
    # a hostile server relabels Alice's stored message; the sealed name still says Alice
    with sqlite3.connect(server.config.chat_db_path) as db:
        db.execute("UPDATE chat_messages SET name = 'Mallory' WHERE room = 'sealed' AND text = ''")
    db.close()
    dave, _ = await open_room(browsers, server, "Dave", "sealed", PASSPHRASE, **NO_MEDIA)
    await dave.open_chat()
    history = await dave.wait_chat(
        lambda ms: texts(ms) == [SECRET, REPLY, UNDECRYPTABLE], "Dave reads the history, not Carol's"
    )
    senders = [m["sender"] for m in history]
    assert senders[0].startswith("Alice") and senders[1].startswith("Bob"), senders
    assert senders[2].startswith("Mallory"), "an unopened message can only show the server's name"
    # a message in the clear (the server's own, from the admin API) is marked as such
    await server.conference.chat.post_system("sealed", "Maintenance at 18:00")
    await dave.wait_chat(lambda ms: texts(ms)[-1:] == ["Maintenance at 18:00"], "Dave gets the notice")
    marked = await dave.page.evaluate(
        "() => [...document.querySelectorAll('#chat-messages .chat-message')]"
        ".map(m => m.classList.contains('unsealed'))"
    )
    assert marked == [False, False, False, True], marked
    await carol.screenshot(artifacts / "e2ee-chat-wrong-passphrase.png", "#chat-panel")
    await dave.screenshot(artifacts / "e2ee-chat.png", "#chat-panel")
