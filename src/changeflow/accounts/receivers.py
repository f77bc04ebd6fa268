"""Django's authentication signals into the audit log: every sign-in, refused sign-in and
sign-out through the web page or the API's token endpoint is recorded."""

from __future__ import annotations

from . import services


def on_logged_in(sender, request, user, **kwargs) -> None:
    services.sign_in_recorded(user=user)


def on_login_failed(sender, credentials, request=None, **kwargs) -> None:
    # ``credentials`` is already cleansed of the password by Django.
    services.sign_in_failed_recorded(username=str(credentials.get("username", "")))


def on_logged_out(sender, request, user, **kwargs) -> None:
    if user is not None:  # signing out without a session
        services.sign_out_recorded(user=user)
