"""What a bench run does: the scenario (who joins, publishes, chats) and the target server."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

ScenarioKind = Literal["meeting", "broadcast", "rooms", "audio", "chat"]


@dataclass
class VideoSpec:
    codec: Literal["VP8", "H264"] = "VP8"
    width: int = 640
    height: int = 360
    fps: int = 30
    bitrate: int = 800_000  # bit/s the clip is encoded at


@dataclass
class Scenario:
    """One load shape; fields as in report_schema.json's ``scenario``.

    * meeting: ``participants`` in one room, all publishing and subscribing;
    * broadcast: ``publishers`` (default 1) publish, ``participants`` subscribers only watch;
    * rooms: ``rooms`` rooms of ``participants`` each, all publishing and subscribing;
    * audio: ``participants`` in one room publishing audio only;
    * chat: ``participants`` in one room sending ``chat_rate`` messages/s in all, no media.
    """

    kind: ScenarioKind = "meeting"
    name: str = ""
    participants: int = 4
    publishers: int = 1
    rooms: int = 1
    duration: float = 20.0
    ramp: float = 5.0
    seed: int = 1
    video: VideoSpec | None = field(default_factory=VideoSpec)
    audio: bool = True
    chat_rate: float = 0.0
    processes: int = 2

    @property
    def sent_video(self) -> VideoSpec | None:
        """The video publishers send: none in the audio and chat scenarios."""
        return None if self.kind in ("audio", "chat") else self.video

    @property
    def sends_audio(self) -> bool:
        return self.audio and self.kind != "chat"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["name"] = self.name or self.kind
        return data


@dataclass
class Target:
    """A server to load: its URL, how to get tokens for it, and a label for reports."""

    url: str
    label: str = ""
    api_key: str | None = None  # with api_secret: the tool mints tokens itself
    api_secret: str | None = field(default=None, repr=False)
    token_command: str | None = None  # a shell command printing a token; {room} {identity} {name} filled in
    metrics_url: str | None = None  # default: url + "/metrics"
    # A server admin token for /metrics; minted from the API key when there is one.
    metrics_token: str | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.label or self.url
