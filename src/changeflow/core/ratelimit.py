"""Failure counting for sign-in, API token requests and e-signatures (shared limit)."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext as _

from .errors import RateLimited


def _key(username: str, ip: str) -> str:
    """The counter's cache key: the username is whatever the client typed (any length, any
    characters), so it is hashed into a short key that every cache backend accepts."""
    who = hashlib.sha256(f"{username.lower()}\0{ip}".encode()).hexdigest()
    return f"signin-fail:{who}"


def check(username: str, ip: str = "") -> None:
    """Raise ``RateLimited`` when this user and address failed too often recently."""
    if (cache.get(_key(username, ip)) or 0) >= settings.SIGNIN_MAX_FAILURES:
        raise RateLimited(_("Too many failed attempts. Try again in a few minutes."))


def failed(username: str, ip: str = "") -> None:
    key = _key(username, ip)
    if not cache.add(key, 1, settings.SIGNIN_WINDOW_SECONDS):
        try:
            cache.incr(key)
        except ValueError:  # expired between add() and incr()
            cache.set(key, 1, settings.SIGNIN_WINDOW_SECONDS)


def succeeded(username: str, ip: str = "") -> None:
    cache.delete(_key(username, ip))
