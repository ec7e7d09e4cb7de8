"""Huddle's Python client library: join rooms, publish and receive media, chat."""

from .client import HuddleClient, HuddleError, Participant, RemoteTrack

__all__ = ["HuddleClient", "HuddleError", "Participant", "RemoteTrack"]
