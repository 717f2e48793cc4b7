"""Encryption at rest for secrets the app must be able to read back (webhook URLs, network
credentials). Fernet (AES-128-CBC + HMAC) from the `cryptography` package.

The key comes from FIELD_ENCRYPTION_KEY (a Fernet key, or several comma-separated for
rotation: the first encrypts, all decrypt); without it, one is derived from SECRET_KEY so the
embedded mode works out of the box. Production should set it explicitly, so that rotating
SECRET_KEY does not make stored secrets unreadable.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class DecryptionError(ValueError):
    """A stored secret could not be decrypted (wrong or rotated-away key, or tampering)."""


@lru_cache(maxsize=4)
def _fernet(keys: str, secret_key: str) -> MultiFernet:
    if keys:
        return MultiFernet([Fernet(key.strip().encode()) for key in keys.split(",") if key.strip()])
    derived = base64.urlsafe_b64encode(hashlib.sha256(b"crisiscenter.crypto:" + secret_key.encode()).digest())
    return MultiFernet([Fernet(derived)])


def _current() -> MultiFernet:
    return _fernet(settings.FIELD_ENCRYPTION_KEY, settings.SECRET_KEY)


def encrypt(plaintext: str) -> str:
    return _current().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _current().decrypt(token.encode()).decode()
    except (InvalidToken, ValueError) as error:
        raise DecryptionError("stored secret cannot be decrypted with the configured keys") from error
