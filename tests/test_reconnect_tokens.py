"""Reconnect tokens: a call outlives its first token, and admin decisions outlive reconnects."""

from __future__ import annotations

import jwt
import pytest

from huddle_client import HuddleError
from signalling.moderation import Moderation
from signalling.tokens import CLOCK_LEEWAY
from tests.conftest import token_expired, token_for, wait_until


async def test_a_participant_rejoins_with_its_reconnect_token_after_the_first_expired(server, clients):
    # Expired just inside the clock leeway: accepted now, refused a moment later.
    first = token_for(server, "long", "ann", "Ann", ttl=-(CLOCK_LEEWAY - 3))
    ann = clients("Ann", token=first)
    await ann.join("long")
    refreshed = (await ann.wait_for_event("token_refresh"))["token"]
    assert ann.token == refreshed != first
    claims = jwt.decode(refreshed, options={"verify_signature": False})
    assert (claims["sub"], claims["room"], claims["name"]) == ("ann", "long", "Ann")
    assert claims["exp"] - claims["iat"] >= 600

    await wait_until(lambda: token_expired(server, first), timeout=6)
    with pytest.raises(HuddleError) as refused:
        await clients("Ann", token=first).join("long")
    assert refused.value.code == "token_expired"
    await ann.abort()  # the network drops
    back = clients("Ann", token=ann.token)
    joined = await back.join("long")
    assert joined["identity"] == "ann"


async def test_a_kick_revokes_the_reconnect_tokens_too(server, clients):
    bob = clients("Bob", token=token_for(server, "strict", "bob"))
    await bob.join("strict")
    refreshed = (await bob.wait_for_event("token_refresh"))["token"]
    await Moderation(server.conference).kick("strict", "bob")
    for token in (bob.token, refreshed):
        with pytest.raises(HuddleError) as refused:
            await clients("Bob", token=token).join("strict")
        assert refused.value.code == "token_revoked"


async def test_withdrawn_grants_stay_withdrawn_after_a_reconnect_with_the_original_token(server, clients):
    original = token_for(server, "quiet", "cy")
    cy = clients("Cy", token=original)
    await cy.join("quiet")
    await Moderation(server.conference).update_grants("quiet", "cy", {"data": False})
    refresh = await cy.wait_for_event("token_refresh", lambda e: e["token"] != cy.events[1]["token"])
    assert jwt.decode(refresh["token"], options={"verify_signature": False})["grants"]["data"] is False
    await cy.abort()
    for token in (original, refresh["token"]):
        again = clients("Cy", token=token)
        joined = await again.join("quiet")
        assert joined["grants"]["data"] is False
        with pytest.raises(HuddleError) as refused:
            await again.send_chat("let me in")
        assert refused.value.code == "permission_denied"
        await again.abort()
