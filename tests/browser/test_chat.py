"""Chat between browsers: live, as history for a late joiner, unread count, and hostile text."""

from __future__ import annotations

import asyncio

from tests.browser.conftest import eventually


def texts(messages: list[dict]) -> list[str | None]:
    return [m["text"] for m in messages]


# Markup in a message is text: shown as typed, in the live view and in history alike.
BOB_REPLY = 'Hi <b>Alice</b> <img src=x onerror="window.__xss = 1">'


async def no_markup_ran(person) -> None:
    injected = await person.page.evaluate(
        "() => document.querySelectorAll('#chat-messages img, #chat-messages b').length +"
        " [...document.images].filter(i => ['x', 'y'].includes(i.getAttribute('src'))).length"
    )
    assert injected == 0, f"{person.name} made elements from chat or name markup"
    side_effects = await person.page.evaluate("() => [window.__xss, window.__xssName]")
    assert side_effects == [None, None], f"markup ran in {person.name}'s page"


async def test_chat_between_browsers_and_history_for_a_late_joiner(server, browsers, artifacts):
    alice, bob = await asyncio.gather(browsers("Alice", "chatroom"), browsers("Bob", "chatroom"))

    await alice.send_chat("Hello from Alice")
    seen = await bob.wait_chat(lambda ms: texts(ms) == ["Hello from Alice"], "Bob gets Alice's message")
    assert seen[0]["sender"].startswith("Alice")
    assert seen[0]["id"] and seen[0]["datetime"], seen

    await bob.send_chat(BOB_REPLY)
    expected = ["Hello from Alice", BOB_REPLY]
    on_alice = await alice.wait_chat(
        lambda ms: texts(ms) == expected and all(m["id"] for m in ms),
        "Alice shows both messages, her own completed by its ack",
    )
    on_bob = await bob.wait_chat(
        lambda ms: texts(ms) == expected and all(m["id"] for m in ms), "Bob shows both messages"
    )
    assert [m["id"] for m in on_alice] == [m["id"] for m in on_bob], "the server's ids, the same everywhere"
    assert await alice.page.input_value("#chat-input") == "", "Enter sent and cleared the input"

    carol = await browsers("Carol", "chatroom")
    await carol.open_chat()
    history = await carol.wait_chat(lambda ms: texts(ms) == expected, "Carol, joining late, sees the history")
    assert history[0]["sender"].startswith("Alice") and history[1]["sender"].startswith("Bob"), history
    assert [m["id"] for m in history] == [m["id"] for m in on_bob]
    assert all(m["datetime"] for m in history)
    await carol.video_flowing(bob.participant_id, colour=bob.colour)  # time enough for an <img> to fail
    for person in (alice, bob, carol):
        await no_markup_ran(person)

    await carol.screenshot(artifacts / "chat-panel.png", "#chat-panel")
    await carol.screenshot(artifacts / "chat-call.png")


async def test_unread_count_while_the_chat_panel_is_closed(server, browsers):
    alice, bob = await asyncio.gather(browsers("Alice", "unread"), browsers("Bob", "unread"))
    if await bob.visible("#chat-panel"):
        await bob.page.click("#chat-button")
        await bob.page.wait_for_selector("#chat-panel", state="hidden", timeout=20_000)

    await alice.send_chat("one")
    await alice.send_chat("two")
    await bob.wait_count("#chat-unread", 2, "Bob's unread count")

    await bob.open_chat()
    await eventually(
        bob.page,
        "() => !window.__huddleTest.visible('#chat-unread') ||"
        " ['', '0'].includes(document.getElementById('chat-unread').textContent.trim())",
        what="the unread count clears when Bob opens the chat",
    )
    assert texts(await bob.chat()) == ["one", "two"]


XSS_TEXT = '<img src=x onerror="window.__xss = (window.__xss || 0) + 1">'
XSS_NAME = "Eve<img src=y onerror=window.__xssName=1>"


async def test_html_in_chat_and_names_is_shown_as_text_and_runs_nothing(server, browsers):
    eve, bob = await asyncio.gather(browsers(XSS_NAME, "hostile"), browsers("Bob", "hostile"))

    await eve.send_chat(XSS_TEXT)
    await bob.wait_chat(lambda ms: texts(ms) == [XSS_TEXT], "Bob shows the markup as text")
    await eve.wait_chat(lambda ms: texts(ms) == [XSS_TEXT] and ms[0]["id"], "Eve's own copy, acknowledged")
    # By the time a later message has made the round trip, an <img src=x> would long have failed to load.
    await eve.send_chat("after")
    await bob.wait_chat(lambda ms: texts(ms) == [XSS_TEXT, "after"], "Bob gets the next message")

    await bob.video_flowing(eve.participant_id, colour=eve.colour)

    for person in (eve, bob):
        await no_markup_ran(person)
    sender = next(m["sender"] for m in await bob.chat() if m["text"] == XSS_TEXT)
    assert sender.startswith(XSS_NAME), sender
    tile = await bob.tile(eve.participant_id)
    assert tile["name"].startswith(XSS_NAME), tile
    people = await bob.page.eval_on_selector_all("#people-list li", "items => items.map(i => i.textContent)")
    assert any(XSS_NAME in text for text in people), people


async def test_links_in_chat_open_in_a_new_tab_and_only_http(server, browsers):
    alice, bob = await asyncio.gather(browsers("Alice", "links"), browsers("Bob", "links"))
    text = "notes at https://example.com/notes?a=1 and javascript:alert(1) here"
    await alice.send_chat(text)
    await bob.wait_chat(lambda ms: texts(ms) == [text], "Bob gets the message, text intact")
    links = await bob.page.eval_on_selector_all(
        "#chat-messages .chat-message .chat-text a",
        "links => links.map(a => [a.getAttribute('href'), a.target, a.rel])",
    )
    assert len(links) == 1, links
    href, target, rel = links[0]
    assert href == "https://example.com/notes?a=1"
    assert target == "_blank" and "noopener" in rel.split()
