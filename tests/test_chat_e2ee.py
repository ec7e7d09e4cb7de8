"""End-to-end encrypted chat: in a room that requires E2EE the server takes only sealed
messages, stores and relays the envelope it cannot open, and participants with the
passphrase read each other (Python clients here; tests/browser/test_e2ee.py for pages)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from huddle_client import HuddleError
from huddle_client.e2ee import ChatSeal, Undecryptable
from signalling.chat_store import ChatStore
from signalling.protocol import MAX_SEALED_CHAT
from signalling.rooms import RoomOptions
from tests.conftest import wait_until

PASSPHRASE = "correct horse battery staple"
SECRET = "the merger closes on Friday <b>ünïcode</b>"


def stored_rows(server, room: str) -> list[tuple[str, str, str | None]]:
    with sqlite3.connect(server.config.chat_db_path) as db:
        return db.execute(
            "SELECT identity, text, sealed FROM chat_messages WHERE room = ? ORDER BY id", (room,)
        ).fetchall()


async def test_participants_with_the_passphrase_read_what_the_server_cannot(server, clients):
    server.conference.create_room("board", RoomOptions(e2ee_required=True))
    ann = clients("Ann", chat_passphrase=PASSPHRASE)
    bob = clients("Bob", chat_passphrase=PASSPHRASE)
    eve = clients("Eve", chat_passphrase="a guess")
    for person in (ann, bob, eve):
        await person.join("board")

    acked = await ann.send_chat(SECRET)
    assert acked["text"] == SECRET, "the sender opens its own acknowledged copy"
    await wait_until(lambda: bob.chat_messages and eve.chat_messages, timeout=5)
    assert bob.chat_messages[0]["text"] == SECRET and bob.chat_messages[0]["identity"] == ann.identity
    assert eve.chat_messages[0].get("undecryptable") is True and eve.chat_messages[0]["text"] == ""

    # the server stored and relayed only the envelope
    ((identity, text, sealed),) = stored_rows(server, "board")
    assert (identity, text) == (ann.identity, "") and sealed
    assert "merger" not in sealed and SECRET.encode() not in sealed.encode()
    assert ChatSeal(PASSPHRASE, "board").open(ann.identity, acked["client_id"], sealed) == ("Ann", SECRET)

    # a late joiner with the passphrase reads the history, and believes the sealed name
    # over the one the server attaches (here the stored row is relabelled, as a hostile
    # server would); a message in the clear (the server's own) is marked
    with sqlite3.connect(server.config.chat_db_path) as db:
        db.execute("UPDATE chat_messages SET name = 'Mallory' WHERE room = 'board'")
    db.close()
    await server.conference.chat.post_system("board", "maintenance at six")
    late = clients("Late", chat_passphrase=PASSPHRASE)
    joined = await late.join("board")
    assert joined["chat_history"][0]["sealed"] == sealed and joined["chat_history"][0]["name"] == "Mallory"
    first, system = late.chat_history
    assert (first["name"], first["text"]) == ("Ann", SECRET) and "unsealed" not in first
    assert system["text"] == "maintenance at six" and system["unsealed"] is True


async def test_plain_chat_is_refused_in_an_e2ee_room_and_nothing_is_stored(server, clients):
    server.conference.create_room("board", RoomOptions(e2ee_required=True))
    plain = clients("Plain")
    await plain.join("board")
    with pytest.raises(HuddleError) as refused:
        await plain.send_chat("in the clear")
    assert refused.value.code == "e2ee_required"
    assert plain.errors[-1].code == "e2ee_required"
    assert stored_rows(server, "board") == []
    # a sealed message is accepted in a room that does not require E2EE (the page seals
    # whenever it has a passphrase), and plain chat still works there
    sealer = clients("Sealer", chat_passphrase=PASSPHRASE)
    await sealer.join("open")
    assert (await sealer.send_chat("sealed anyway"))["text"] == "sealed anyway"
    other = clients("Other")
    await other.join("open")
    assert (await other.send_chat("plain"))["text"] == "plain"
    assert [bool(sealed) for _, _, sealed in stored_rows(server, "open")] == [True, False]


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"text": "x", "sealed": "A" * 40}, "invalid_message"),
        ({"sealed": "A" * 38}, "invalid_message"),
        ({"sealed": "A" * 39 + "="}, "invalid_message"),
        ({"sealed": "A+" * 30}, "invalid_message"),
        ({"sealed": 5}, "invalid_message"),
        ({}, "invalid_message"),
        ({"sealed": "A" * (MAX_SEALED_CHAT + 1)}, "message_too_large"),
    ],
)
async def test_malformed_sealed_chat_gets_a_code_naming_the_message(server, clients, payload, code):
    person = clients("Person")
    await person.join("checks")
    person.send_chat_raw(json.dumps({"type": "chat", "client_id": "m1", **payload}))
    await wait_until(lambda: person.errors, timeout=5)
    assert person.errors[0].code == code
    assert stored_rows(server, "checks") == []
    assert (await person.send_chat("still fine"))["text"] == "still fine"


def test_a_sealed_message_opens_only_for_its_sender_message_and_room():
    seal = ChatSeal(PASSPHRASE, "board")
    sealed = seal.seal("ann", "c1", "Ann", SECRET)
    assert seal.open("ann", "c1", sealed) == ("Ann", SECRET)
    assert ChatSeal(PASSPHRASE, "board").seal("ann", "c1", "Ann", SECRET) != sealed, "a fresh IV every time"
    elsewhere = [("bob", "c1", "board"), ("ann", "c2", "board"), ("ann", "c1", "x")]
    for identity, client_id, other_room in elsewhere:
        with pytest.raises(Undecryptable):
            ChatSeal(PASSPHRASE, other_room).open(identity, client_id, sealed)
    with pytest.raises(Undecryptable):
        ChatSeal("another passphrase", "board").open("ann", "c1", sealed)
    with pytest.raises(Undecryptable):
        seal.open("ann", "c1", sealed[:-2] + ("AA" if not sealed.endswith("AA") else "BB"))


async def test_a_chat_file_from_before_sealed_chat_is_upgraded_in_place(tmp_path: Path):
    path = tmp_path / "chat.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(
            """CREATE TABLE chat_messages (
                id INTEGER PRIMARY KEY AUTOINCREMENT, room TEXT NOT NULL, identity TEXT NOT NULL,
                participant_id TEXT NOT NULL, name TEXT NOT NULL, client_id TEXT NOT NULL,
                text TEXT NOT NULL, ts REAL NOT NULL, UNIQUE (room, identity, client_id));
            INSERT INTO chat_messages (room, identity, participant_id, name, client_id, text, ts)
                VALUES ('r', 'ann', 'PA_1', 'Ann', 'c1', 'old message', 1.0);"""
        )
    db.close()
    async with ChatStore(path) as store:
        new, created = await store.append("r", "bob", "PA_2", "Bob", "c2", "", sealed="A" * 40)
        history = await store.recent("r", 10)
    assert created and [m.text for m in history] == ["old message", ""]
    assert [m.to_json().get("sealed") for m in history] == [None, "A" * 40]
    assert "sealed" not in history[0].to_json(), "plain messages keep their old shape"
