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


def _keys(purpose: str) -> list[Fernet]:
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return [_fernet(s, purpose) for s in secrets if s]


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
