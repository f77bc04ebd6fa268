"""Secrets kept at rest that changeflow must read back (a mailbox's IMAP password).

Each is a Fernet token (AES-128-CBC with an HMAC-SHA256, a random IV and a timestamp). The
key is derived from the site's ``SECRET_KEY`` (``CHANGEFLOW_SECRET_KEY``, or the generated
``$CHANGEFLOW_HOME/secret_key``) with HKDF-SHA256, one key per ``purpose``, so a token made
for one use cannot be read as another. Tokens are written with ``SECRET_KEY`` and read with it
or any of ``SECRET_KEY_FALLBACKS``, so the key can be rotated without losing them. A token
that no key opens (the secret key was changed without a fallback, or the row was tampered
with) raises ``SecretUnreadable``; callers report it rather than crash.
"""

from __future__ import annotations

import base64
import functools

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

# Fixed and public: HKDF's salt need not be secret; what varies per use is ``info``.
SALT = b"changeflow.core.crypto/v1"


class SecretUnreadable(Exception):
    """A stored secret that none of the site's keys can decrypt."""


@functools.lru_cache(maxsize=32)
def _fernet(secret: str, purpose: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=SALT, info=purpose.encode()).derive(
        secret.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


def _secrets() -> list[str]:
    """The site's secret key, then its fallbacks: write with the first, read with any."""
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return [s for s in secrets if s]


def _keys(purpose: str) -> list[Fernet]:
    return [_fernet(s, purpose) for s in _secrets()]


def fingerprint(secret: str) -> str:
    """A one-way fingerprint of a secret key, to tell whether two sites share one (a backup
    records it): HKDF with an ``info`` of its own, so it says nothing about the key or the keys
    derived from it for encryption."""
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=SALT, info=b"fingerprint").derive(
        secret.encode()
    )
    return "hkdf-sha256:" + derived.hex()[:32]


def readable_fingerprints() -> set[str]:
    """The fingerprints of the keys this site reads secrets with (``SECRET_KEY`` and its
    fallbacks): a secret written under a key of another fingerprint cannot be decrypted."""
    return {fingerprint(s) for s in _secrets()}


def encrypt(plain: str, *, purpose: str) -> str:
    """The token of ``plain`` (text), under the current key; "" stays ""."""
    if not plain:
        return ""
    return _keys(purpose)[0].encrypt(plain.encode()).decode("ascii")


def decrypt(token: str, *, purpose: str) -> str:
    """The text ``token`` was made from; "" stays "". ``SecretUnreadable`` when no key fits."""
    if not token:
        return ""
    try:
        return MultiFernet(_keys(purpose)).decrypt(token.encode("ascii")).decode()
    except (InvalidToken, UnicodeError, ValueError) as exc:
        raise SecretUnreadable(purpose) from exc
