"""Django's authentication signals into the audit log: every sign-in, refused sign-in and
sign-out through the web page or the API's token endpoint is recorded, and whether the
organisation's directory checked the password (or refused, and why)."""

from __future__ import annotations

from . import services
from .backends import DirectoryBackend, refusal


def on_logged_in(sender, request, user, **kwargs) -> None:
    through_directory = getattr(user, "backend", "").endswith("." + DirectoryBackend.__name__)
    services.sign_in_recorded(user=user, via="directory" if through_directory else "")


def on_login_failed(sender, credentials, request=None, **kwargs) -> None:
    # ``credentials`` is already cleansed of the password by Django.
    reason = refusal(request)
    services.sign_in_failed_recorded(
        username=str(credentials.get("username", "")),
        via="directory" if reason else "",
        reason=reason,
    )


def on_logged_out(sender, request, user, **kwargs) -> None:
    if user is not None:  # signing out without a session
        services.sign_out_recorded(user=user)
