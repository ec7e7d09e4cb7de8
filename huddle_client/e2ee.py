"""End-to-end encrypted chat, byte for byte as the page does it (static/e2ee.js, docs/e2ee.md).

Keys: PBKDF2-HMAC-SHA-256 of the passphrase (600,000 rounds, salt
``huddle-e2ee-v1:<room>``) gives 32 bytes; HKDF-SHA-256 (no salt) of those with
the info ``huddle-e2ee-v1 media`` or ``huddle-e2ee-v1 chat`` gives the AES-256-GCM
key for frames or for chat.

A sealed chat message is the unpadded base64url of a random 12-byte IV followed by
the AES-GCM ciphertext and tag of the UTF-8 JSON ``{"name": ..., "text": ...}``: the
sender's display name travels sealed with the text. The additional data binds it to
the room, the sender's identity and the message's client id, so the server cannot
present one person's message as another's or move it to another room unnoticed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from typing import NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PBKDF2_ITERATIONS = 600_000
SALT_PREFIX = "huddle-e2ee-v1:"
IV_LENGTH = 12


class Undecryptable(ValueError):
    """A sealed message that this key does not open (another passphrase, or altered)."""


class OpenedChat(NamedTuple):
    name: str  # as the sender sealed it
    text: str


def derive_key(passphrase: str, room: str, purpose: str) -> bytes:
    """The 32-byte key for ``purpose`` ("media" or "chat") in ``room``."""
    master = hashlib.pbkdf2_hmac(
        "sha256", passphrase.encode(), (SALT_PREFIX + room).encode(), PBKDF2_ITERATIONS, 32
    )
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"huddle-e2ee-v1 {purpose}".encode())
    return hkdf.derive(master)


def chat_additional_data(room: str, identity: str, client_id: str) -> bytes:
    return f"huddle-chat-v1\n{room}\n{identity}\n{client_id}".encode()


class ChatSeal:
    """Seals and opens one room's chat messages with a passphrase's chat key.

    Deriving the key takes a noticeable fraction of a second (that is the point of
    PBKDF2): make one per room, off the event loop.
    """

    def __init__(self, passphrase: str, room: str) -> None:
        self.room = room
        self._cipher = AESGCM(derive_key(passphrase, room, "chat"))

    def seal(self, identity: str, client_id: str, name: str, text: str) -> str:
        iv = os.urandom(IV_LENGTH)
        plain = json.dumps({"name": name, "text": text}, ensure_ascii=False).encode()
        sealed = self._cipher.encrypt(iv, plain, chat_additional_data(self.room, identity, client_id))
        return base64.urlsafe_b64encode(iv + sealed).rstrip(b"=").decode()

    def open(self, identity: str, client_id: str, sealed: str) -> OpenedChat:
        try:
            data = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
            aad = chat_additional_data(self.room, identity, client_id)
            content = json.loads(self._cipher.decrypt(data[:IV_LENGTH], data[IV_LENGTH:], aad))
            opened = OpenedChat(content["name"], content["text"])
        except (InvalidTag, ValueError, KeyError, TypeError) as exc:
            raise Undecryptable("this message does not open with our key") from exc
        if not isinstance(opened.name, str) or not isinstance(opened.text, str):
            raise Undecryptable("the sealed message is not a name and a text")
        return opened
