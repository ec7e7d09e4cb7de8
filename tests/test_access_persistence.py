"""A kick and an admin's grant change outlive the room and the server process: the
kicked token stays refused, and withdrawn grants stay withdrawn, until the tokens
concerned expire (signalling/access_store.py)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from huddle_client import HuddleClient, HuddleError
from huddle_client.synthetic import ColourVideoTrack
from signalling.access_store import AccessStore
from signalling.config import Config
from signalling.tokens import ApiKeys, Grants, mint_token
from tests.conftest import LOOPBACK, ServerProcess, token_for, wait_until
from tests.test_admin_api import AdminApi, server_admin

KEY, SECRET = ApiKeys.generate()
CAMERA_ONLY = Grants(publish=frozenset({"camera"}))


def keyed_token(identity: str, room: str | None, grants: Grants | None = None) -> str:
    return mint_token(KEY, SECRET, identity, room, grants=grants)


async def joins(url: str, token: str, room: str) -> dict:
    """Join and leave again; the ``joined`` message."""
    async with HuddleClient(url, "Someone", host_addresses=LOOPBACK, token=token) as client:
        return await client.join(room)


async def refused(url: str, token: str, room: str) -> str:
    with pytest.raises(HuddleError) as error:
        await joins(url, token, room)
    return error.value.code


async def test_kick_and_grant_change_survive_kill_9(tmp_path: Path):
    env = {**os.environ, "HUDDLE_API_KEYS": f"{KEY}:{SECRET}"}
    server = ServerProcess(tmp_path / "data", env=env)
    await server.start()
    try:
        api = AdminApi(server.url, keyed_token("ops", None, Grants(admin=True)))
        mallory_token = keyed_token("mallory", "r")
        bob_token = keyed_token("bob", "r", CAMERA_ONLY)
        mallory = HuddleClient(server.url, "Mallory", host_addresses=LOOPBACK, token=mallory_token)
        bob = HuddleClient(server.url, "Bob", host_addresses=LOOPBACK, token=bob_token)
        try:
            await mallory.join("r")
            joined = await bob.join("r")
            assert joined["grants"]["publish"] == ["camera"]
            assert (await api("DELETE", "/rooms/r/participants/mallory"))[0] == 204
            status, body = await api("PATCH", "/rooms/r/participants/bob", {"grants": {"publish": []}})
            assert status == 200 and body["grants"]["publish"] == []
        finally:
            await mallory.close()
            await bob.close()

        await server.kill()  # no shutdown code runs: only what reached the disk counts
        await server.start()

        assert await refused(server.url, mallory_token, "r") == "token_revoked"
        joined = await joins(server.url, bob_token, "r")
        assert joined["grants"]["publish"] == [], "the withdrawn grant came back after a restart"
        # control: the restarted server admits a new token of the kicked person
        assert (await joins(server.url, keyed_token("mallory", "r"), "r"))["identity"] == "mallory"
    finally:
        await server.kill()


async def test_withdrawn_publish_grant_holds_after_the_room_emptied(server, api):
    token = token_for(server, "once", identity="bob", grants=CAMERA_ONLY)
    async with HuddleClient(server.url, "Bob", host_addresses=LOOPBACK, token=token) as bob:
        await bob.join("once")
        status, _ = await api("PATCH", "/rooms/once/participants/bob", {"grants": {"publish": []}})
        assert status == 200
    await wait_until(lambda: "once" not in server.conference.rooms, timeout=10)

    async with HuddleClient(server.url, "Bob", host_addresses=LOOPBACK, token=token) as bob:
        joined = await bob.join("once")
        assert joined["grants"]["publish"] == []
        with pytest.raises(HuddleError) as error:
            await asyncio.wait_for(bob.publish([(ColourVideoTrack((255, 0, 0)), "camera")]), 10)
        assert error.value.code == "permission_denied"


async def test_the_store_forgets_what_has_expired_and_keeps_the_rest(tmp_path: Path):
    path = Config(data_dir=tmp_path).access_db_path
    now = time.time()
    async with AccessStore(path) as store:
        await store.revoke("gone", now + 0.2)
        await store.revoke("kept", now + 3600)
        await store.change_grants("r", "gone", Grants(subscribe=False), now + 0.2)
        await store.change_grants("r", "kept", Grants(subscribe=False), now + 0.2)
        await store.extend_grants("r", "kept", now + 3600)
        assert store.extend_grants("r", "kept", now + 60) is None, "never shortened"
        assert store.is_revoked("gone") and store.grants_in("r", "gone") is not None
    await asyncio.sleep(0.3)
    async with AccessStore(path) as store:
        assert not store.is_revoked("gone") and store.is_revoked("kept")
        assert store.grants_in("r", "gone") is None
        assert store.grants_in("r", "kept") == Grants(subscribe=False)
        assert store.grants_in("other-room", "kept") is None, "a grant change holds in its room only"


@pytest.fixture
def api(server) -> AdminApi:
    return AdminApi(server.url, server_admin(server))
