"""A bench worker process: many synthetic participants on one asyncio loop, driven over stdin/stdout.

    python -m benchmarks.bench.worker      # the first stdin line is its WorkerSpec as JSON

The spec comes over stdin, not argv, because it may hold an API secret. Each
further stdin line is one command and gets exactly one JSON line on stdout:
``join`` (with ``t0``, the wall-clock time the ramp starts), ``status``, ``start``
(the measured window opens; chat starts), ``tick`` (packets so far in the window),
``end`` (the window closes; chat stops), ``settle`` (chat acks are in), ``results``, ``stop``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from huddle_client import HuddleError
from signalling.event_loop import new_event_loop

from .clips import audio_clip, video_clip
from .participant import JOIN_TIMEOUT, Media, SyntheticParticipant
from .plan import ParticipantPlan
from .scenarios import VideoSpec
from .tokens import TokenError, TokenSource

CHAT_SETTLE = 3.0

logger = logging.getLogger(__name__)


@dataclass
class WorkerSpec:
    url: str
    participants: list[ParticipantPlan]
    tokens: TokenSource
    video: VideoSpec | None
    audio: bool
    cache_dir: str
    run_tag: str
    seed: int
    loopback: bool  # use 127.0.0.1 as the only host candidate
    delay: float = 0.0  # seconds each published packet is held after its stamp (tests)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WorkerSpec:
        return cls(
            url=data["url"],
            participants=[ParticipantPlan(**p) for p in data["participants"]],
            tokens=TokenSource(**data["tokens"]),
            video=VideoSpec(**data["video"]) if data["video"] else None,
            audio=data["audio"],
            cache_dir=data["cache_dir"],
            run_tag=data["run_tag"],
            seed=data["seed"],
            loopback=data["loopback"],
            delay=data.get("delay", 0.0),
        )


class Worker:
    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        self.errors: Counter[str] = Counter()
        self.participants: list[SyntheticParticipant] = []
        self.failed = 0
        self.messages: dict[str, str] = {}  # error code -> its first message
        self._joins: list[asyncio.Task[None]] = []

    def load(self) -> None:
        cache = Path(self.spec.cache_dir)
        publishing = any(p.publish for p in self.spec.participants)
        video = video_clip(self.spec.video, cache) if publishing and self.spec.video else None
        audio = audio_clip(cache) if publishing and self.spec.audio else None
        codec = self.spec.video.codec if self.spec.video else "VP8"
        media = Media(video, audio, codec, self.spec.delay)
        hosts = ["127.0.0.1"] if self.spec.loopback else None
        self.participants = [
            SyntheticParticipant(
                plan,
                self.spec.url,
                self.spec.tokens,
                media,
                self.spec.run_tag,
                self.spec.seed,
                self.errors,
                hosts,
            )
            for plan in self.spec.participants
        ]

    def start_joins(self, t0: float) -> None:
        self._joins = [asyncio.create_task(self._join(p, t0)) for p in self.participants]

    async def _join(self, participant: SyntheticParticipant, t0: float) -> None:
        await asyncio.sleep(max(t0 + participant.plan.join_offset - time.time(), 0))
        try:
            await asyncio.wait_for(participant.join(), JOIN_TIMEOUT * 2)
        except HuddleError as exc:
            self._failed(participant, f"join_{exc.code}", exc)
        except TokenError as exc:
            self._failed(participant, "token_command", exc)
        except (TimeoutError, OSError, RuntimeError, ValueError) as exc:
            self._failed(participant, f"join_{type(exc).__name__}", exc)

    def _failed(self, participant: SyntheticParticipant, code: str, exc: BaseException) -> None:
        logger.warning("%s could not join: %s", participant.plan.name, exc)
        participant.join_s = None
        self.failed += 1
        self.errors[code] += 1
        self.messages.setdefault(code, str(exc)[:300])

    def status(self) -> dict[str, Any]:
        joined = [p for p in self.participants if p.join_s is not None]
        return {
            "joined": len(joined),
            "failed": self.failed,
            "ready": all(p.ready() for p in joined) and len(joined) + self.failed == len(self.participants),
        }

    def start_window(self) -> None:
        for p in self.participants:
            for track in p.tracks.values():
                track.start_window()
            p.start_chat()

    def tick(self) -> dict[str, Any]:
        packets = size = expected = 0
        for p in self.participants:
            for track in p.tracks.values():
                a, b, c = track.in_window()
                packets, size, expected = packets + a, size + b, expected + c
        return {"packets": packets, "bytes": size, "expected": expected, "at": time.time()}

    async def end_window(self) -> None:
        for p in self.participants:
            for track in p.tracks.values():
                track.end_window()
        await asyncio.gather(*(p.stop_chat() for p in self.participants))

    async def settle(self) -> None:
        """Wait (bounded) for the acks of the chat messages sent before the window closed."""
        await asyncio.gather(*(p.settle_chat(CHAT_SETTLE) for p in self.participants))

    def results(self) -> dict[str, Any]:
        return {
            "participants": [p.result() for p in self.participants],
            "errors": dict(self.errors),
            "messages": self.messages,
        }

    async def stop(self) -> None:
        for task in self._joins:
            task.cancel()
        await asyncio.gather(*self._joins, return_exceptions=True)
        await asyncio.gather(*(p.leave() for p in self.participants), return_exceptions=True)


def _emit(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def serve(reader: asyncio.StreamReader) -> None:
    spec = WorkerSpec.from_json(json.loads(await reader.readline()))
    worker = Worker(spec)
    try:
        worker.load()
        _emit({"event": "loaded"})
        while line := (await reader.readline()).decode().strip():
            command = json.loads(line)
            name = command["cmd"]
            if name == "join":
                worker.start_joins(command["t0"])
                _emit({"ok": True})
            elif name == "status":
                _emit(worker.status())
            elif name == "start":
                worker.start_window()
                _emit({"ok": True, "at": time.time()})
            elif name == "tick":
                _emit(worker.tick())
            elif name == "end":
                await worker.end_window()
                _emit({"ok": True, "at": time.time()})
            elif name == "settle":
                await worker.settle()
                _emit({"ok": True})
            elif name == "results":
                _emit(worker.results())
            elif name == "stop":
                break
    finally:
        await worker.stop()
    _emit({"event": "stopped"})


async def main_async() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**26)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    await serve(reader)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    loop = new_event_loop()
    try:
        loop.run_until_complete(main_async())
    except Exception as exc:
        logger.exception("bench worker failed")
        _emit({"event": "error", "message": f"{type(exc).__name__}: {exc}"})
        sys.exit(1)
    finally:
        loop.close()


if __name__ == "__main__":
    main()
