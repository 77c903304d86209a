"""Endpoint API keys at rest: AES-256-GCM under a random key kept in a separate file.

The key file (`secret.key` in the data dir, mode 0600) is created atomically on first use. A
ciphertext is bound to what it protects (the endpoint's name) through the GCM associated data, so
a blob copied onto another row does not decrypt. This protects a database file that leaves the
machine (copies, backups, pasted `sqlite3` output); it does not protect against a process that
runs as the same user and can read the key file. docs/endpoints.md says so to users.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cal.store.db import PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, StoreError, enforce_private_mode

SECRET_KEY_FILE = "secret.key"
KEY_BYTES = 32
NONCE_BYTES = 12
BLOB_VERSION = b"\x01"


def read_key(path: Path) -> bytes | None:
    """The key stored at `path`, or None when the file does not exist."""
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(f"cannot read the secret key {path}: {exc}") from None
    enforce_private_mode(path)
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except binascii.Error:
        key = b""
    if len(key) != KEY_BYTES:
        raise StoreError(f"the secret key {path} is damaged (expected {KEY_BYTES} bytes, base64)")
    return key


def create_key(path: Path) -> bytes:
    """Write a new random key to `path` unless one appears first; returns the key in the file.

    The key is written to a private temporary file and hard-linked into place, so no reader ever
    sees a half-written key and two processes racing end up with the same one.
    """
    try:
        _write_new_key(path)
    except OSError as exc:
        raise StoreError(f"cannot create the secret key {path}: {exc}") from None
    stored = read_key(path)
    if stored is None:
        raise StoreError(f"the secret key {path} vanished while it was being created")
    return stored


def _write_new_key(path: Path) -> None:
    """A fresh key in a private temporary file, published as `path` unless `path` exists."""
    path.parent.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_BINARY", 0)  # Windows: no CRLF
    fd = os.open(tmp, flags, PRIVATE_FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(base64.b64encode(secrets.token_bytes(KEY_BYTES)) + b"\n")
            out.flush()
            os.fsync(out.fileno())
        _link_into_place(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _link_into_place(tmp: Path, path: Path) -> None:
    """Publish `tmp` as `path` unless `path` exists (hard link; rename where links are missing)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        return
    except OSError:  # a file system without hard links: rename, unless a key appeared meanwhile
        if not path.exists():
            os.replace(tmp, path)


class Keyring:
    """Encrypts and decrypts endpoint API keys with the key in `key_path` (loaded on demand)."""

    def __init__(self, key_path: Path) -> None:
        self.key_path = key_path
        self._aead: AESGCM | None = None

    def _cipher(self, *, create: bool) -> AESGCM:
        if self._aead is None:
            key = read_key(self.key_path)
            if key is None:
                if not create:
                    raise StoreError(
                        f"the secret key {self.key_path} is missing, so stored API keys cannot "
                        "be decrypted: put the file back, or remove and re-add the endpoints"
                    )
                key = create_key(self.key_path)
            self._aead = AESGCM(key)
        return self._aead

    def encrypt(self, plain: str, context: str) -> bytes:
        """`plain` sealed for the row named `context`: version byte + nonce + ciphertext."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._cipher(create=True).encrypt(nonce, plain.encode(), _aad(context))
        return BLOB_VERSION + nonce + sealed

    def decrypt(self, blob: bytes, context: str) -> str:
        """The clear text of a blob made by `encrypt` for the same `context`."""
        if blob[:1] != BLOB_VERSION or len(blob) < 1 + NONCE_BYTES + 16:
            raise StoreError(f"the stored API key of {context!r} is not in a format cal knows")
        nonce, sealed = blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :]
        try:
            plain = self._cipher(create=False).decrypt(nonce, sealed, _aad(context))
        except InvalidTag:
            raise StoreError(
                f"the API key of endpoint {context!r} does not decrypt with {self.key_path} "
                "(was the key file replaced?): remove and re-add the endpoint"
            ) from None
        return plain.decode()


def _aad(context: str) -> bytes:
    return b"cal/endpoint-api-key/v1:" + context.encode()
