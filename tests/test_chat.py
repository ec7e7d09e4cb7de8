"""Chat over the data channel: stamped, stored, ordered, idempotent, durable."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from huddle_client import HuddleClient, HuddleError
from signalling.chat_store import ChatStore
from signalling.config import Config
from tests.conftest import LOOPBACK, ServerProcess, free_port, start_server, wait_until


async def test_messages_arrive_in_order_stamped_by_the_server(clients):
    alice, bob = clients("Alice"), clients("Bob")
    await alice.join("talk")
    await bob.join("talk")
    acks = await asyncio.gather(*(alice.send_chat(f"message {i}") for i in range(30)))

    await wait_until(lambda: len(bob.chat_messages) == 30)
    assert [m["text"] for m in bob.chat_messages] == [f"message {i}" for i in range(30)]
    ids = [m["id"] for m in bob.chat_messages]
    assert ids == sorted(ids) and len(set(ids)) == 30
    assert [a["id"] for a in acks] == ids
    first = bob.chat_messages[0]
    assert first["participant_id"] == alice.participant_id
    assert first["identity"] == alice.identity and first["name"] == "Alice"
    assert first["ts"] > 0
    assert alice.chat_messages == [], "the sender gets acks, not its own messages back"


async def test_joiner_gets_the_last_100_messages(clients):
    alice = clients("Alice")
    await alice.join("history")
    for i in range(105):
        await alice.send_chat(f"line {i}")
    late = clients("Late")
    joined = await late.join("history")
    texts = [m["text"] for m in joined["chat_history"]]
    assert texts == [f"line {i}" for i in range(5, 105)]


async def test_resend_with_same_client_id_is_stored_once(clients):
    alice, bob = clients("Alice"), clients("Bob")
    await alice.join("dup")
    await bob.join("dup")
    first = await alice.send_chat("only once", client_id="msg-1")
    # a reconnect: a new connection of the same identity resends the same message
    await alice.close()
    again = clients("Alice", identity=alice.identity)
    await again.join("dup")
    second = await again.send_chat("only once", client_id="msg-1")
    assert second["id"] == first["id"] and second["ts"] == first["ts"]
    await again.send_chat("after")
    await wait_until(lambda: len(bob.chat_messages) == 2)
    assert [m["text"] for m in bob.chat_messages] == ["only once", "after"]
    late = clients("Late")
    joined = await late.join("dup")
    assert [m["text"] for m in joined["chat_history"]] == ["only once", "after"]


async def test_too_large_and_malformed_chat_get_errors(clients):
    alice, bob = clients("Alice"), clients("Bob")
    await alice.join("limits")
    await bob.join("limits")
    with pytest.raises(HuddleError) as error:
        await alice.send_chat("x" * 5000)
    assert error.value.code == "message_too_large"
    alice.send_chat_raw("not json")
    alice.send_chat_raw('{"type": "chat", "text": 5}')
    await wait_until(lambda: len(alice.errors) >= 3)
    assert [e.code for e in alice.errors[1:3]] == ["invalid_json", "invalid_message"]
    await alice.send_chat("still fine")
    await wait_until(lambda: [m["text"] for m in bob.chat_messages] == ["still fine"])


async def test_history_survives_a_server_restart(tmp_path):
    config = Config(port=free_port(), data_dir=tmp_path / "data")
    running, runner = await start_server(config)
    try:
        async with HuddleClient(running.url, "Alice", host_addresses=LOOPBACK) as alice:
            await alice.join("durable")
            for i in range(5):
                await alice.send_chat(f"before restart {i}")
    finally:
        await runner.cleanup()

    running, runner = await start_server(Config(port=free_port(), data_dir=tmp_path / "data"))
    try:
        async with HuddleClient(running.url, "Bob", host_addresses=LOOPBACK) as bob:
            joined = await bob.join("durable")
            assert [m["text"] for m in joined["chat_history"]] == [f"before restart {i}" for i in range(5)]
    finally:
        await runner.cleanup()


async def test_acknowledged_messages_survive_kill_9(server_process: ServerProcess):
    acked: list[dict] = []
    alice = HuddleClient(server_process.url, "Alice", host_addresses=LOOPBACK)
    try:
        await alice.join("crash")
        sends = [asyncio.ensure_future(alice.send_chat(f"m{i}")) for i in range(200)]
        # kill the server while messages are still being written
        await wait_until(lambda: sum(1 for s in sends if s.done()) >= 50, timeout=20)
        await server_process.kill()
        for send in sends:
            with contextlib.suppress(TimeoutError, HuddleError, ConnectionError):
                acked.append(await send)
    finally:
        await alice.close()
    assert len(acked) >= 50

    # every acknowledged message is in the store the killed server left behind
    async with ChatStore(Config(data_dir=server_process.data_dir).chat_db_path) as store:
        stored = await store.recent("crash", 1000)
    assert {m["id"] for m in acked} <= {m.id for m in stored}
    assert [m.text for m in stored] == [f"m{i}" for i in range(len(stored))], "stored in send order"

    # and a restarted server serves them
    await server_process.start()
    async with HuddleClient(server_process.url, "Bob", host_addresses=LOOPBACK) as bob:
        joined = await bob.join("crash")
    assert [m["id"] for m in joined["chat_history"]] == [m.id for m in stored][-100:]
