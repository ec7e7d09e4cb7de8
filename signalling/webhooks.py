"""Webhooks: room, participant and track events POSTed, signed, to the operator's URLs.

The conference only drops each event into a bounded queue; one sender task
delivers them in order with a short timeout per POST and a few retries, so a
slow or dead receiver never delays a room. When the queue is full, or a
delivery keeps failing, the event is dropped with a log line.

Each POST's body is ``{"event", "id", "created_at", ...details}``; the header
``X-Huddle-Signature: sha256=<hex>`` is the HMAC-SHA256 of the raw body with the
secret of the first API key, named by ``X-Huddle-Key``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from .conference import Conference
from .tokens import ApiKeys

logger = logging.getLogger(__name__)

QUEUE_SIZE = 1000
POST_TIMEOUT = 2.0  # seconds per attempt
ATTEMPTS = 3
BACKOFF = 0.5  # seconds before the first retry, doubled after each


def webhook_url(text: str) -> str:
    """An http(s) URL with a host (``--webhook-url``'s type)."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{text!r} is not an http(s) URL")
    return text


def sign(secret: str, body: bytes) -> str:
    """The ``X-Huddle-Signature`` value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookSender:
    def __init__(
        self,
        urls: list[str],
        keys: ApiKeys,
        timeout: float = POST_TIMEOUT,
        attempts: int = ATTEMPTS,
        backoff: float = BACKOFF,
    ) -> None:
        self.urls = list(urls)
        self._keys = keys
        self._timeout = timeout
        self._attempts = attempts
        self._backoff = backoff
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
        self._task: asyncio.Task[None] | None = None
        self._http: aiohttp.ClientSession | None = None

    def observe(self, event: str, details: dict[str, Any]) -> None:
        """The conference observer: never waits."""
        payload = {"event": event, "id": "EV_" + secrets.token_hex(8), "created_at": time.time(), **details}
        try:
            self._queue.put_nowait(payload)
        except asyncio.QueueFull:
            logger.warning("webhook queue full: dropped %s %s", event, payload["id"])

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout))
        self._task = asyncio.create_task(self._run(), name="webhook-sender")

    async def stop(self, drain_timeout: float = 2.0) -> None:
        """Deliver what is queued (the last participant_left and room_finished of a
        shutdown), for at most ``drain_timeout`` seconds, then stop."""
        if self._task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), drain_timeout)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._http is not None:
            await self._http.close()

    async def _run(self) -> None:
        while True:
            payload = await self._queue.get()
            body = json.dumps(payload).encode()
            try:
                for url in self.urls:
                    await self._deliver(url, payload, body)
            finally:
                self._queue.task_done()

    async def _deliver(self, url: str, payload: dict[str, Any], body: bytes) -> None:
        assert self._http is not None
        # The key is read at each delivery: keys may be rotated while the server runs.
        key, secret = self._keys.first()
        delay = self._backoff
        problem = ""
        for attempt in range(1, self._attempts + 1):
            headers = {
                "Content-Type": "application/json",
                "X-Huddle-Signature": sign(secret, body),
                "X-Huddle-Key": key,
                "X-Huddle-Timestamp": str(int(time.time())),
            }
            try:
                async with self._http.post(url, data=body, headers=headers) as response:
                    if response.status < 300:
                        return
                    problem = f"HTTP {response.status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                problem = type(exc).__name__
            if attempt < self._attempts:
                await asyncio.sleep(delay)
                delay *= 2
        logger.warning(
            "webhook %s %s to %s dropped after %d attempts (%s)",
            payload["event"],
            payload["id"],
            url,
            self._attempts,
            problem,
        )


def add_webhooks(app: web.Application, conference: Conference, urls: list[str]) -> WebhookSender | None:
    """Send the conference's events to ``urls`` while ``app`` runs (nothing when there are none)."""
    if not urls:
        return None
    sender = WebhookSender(urls, conference.config.api_keys)
    conference.observers.append(sender.observe)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await sender.start()
        yield
        await sender.stop()

    # Registered before the conference's own cleanup, so it stops after it: the events
    # of the conference closing are still sent.
    app.cleanup_ctx.append(lifecycle)
    return sender
