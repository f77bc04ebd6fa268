"""Who may sign in: local accounts with their changeflow password, then the people of the
organisation's directory with theirs (``settings.AUTHENTICATION_BACKENDS``).

The local backend comes first and asks no server, so a site admin signs in while the directory
is down. The directory never takes a local account over: a name that is a local account's is
the local backend's alone. A directory user never signs in with a local password while the
directory is on.

A refusal of the directory stops the sign-in (Django's ``PermissionDenied``) with its reason
left on the request (``refusal(request)``): the audit records it, and the sign-in page says
when the directory could not be asked at all.
"""

from __future__ import annotations

import logging
from typing import NoReturn

from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied

from changeflow.core.errors import ApplicationError

from . import directory
from .models import User

log = logging.getLogger(__name__)

REFUSAL = "_directory_refusal"


def refusal(request) -> str:
    """Why the directory refused this request's sign-in ("" when it did not)."""
    return getattr(request, REFUSAL, "") if request is not None else ""


class LocalBackend(ModelBackend):
    """Django's own: the changeflow password. Not for directory users while it is on."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is not None and directory.manages_password_of(user):
            return None
        return user


class DirectoryBackend(ModelBackend):
    """The directory checks the password; the changeflow user is created on the first
    success and refreshed on the next ones (``services.directory_user_sync``)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        from . import services

        config = directory.configured()
        if not config or not username or password is None:
            return None
        local = User.objects.filter(username__iexact=username, directory_dn="").exists()
        if local:
            return None  # the local backend's, and it said no
        try:
            person = directory.authenticate(config, username, password)
            user, _created = services.directory_user_sync(person=person)
        except directory.DirectoryError as exc:
            if isinstance(exc, directory.Unavailable) or exc.reason == "ambiguous":
                # A fault of the directory or its settings, not of the person: the log says.
                log.warning("directory sign-in of %r: %s", username, exc.message)
            self._refuse(request, exc.reason)
        except ApplicationError:  # a name changeflow cannot hold, a local account's
            self._refuse(request, "not_allowed")
        if not self.user_can_authenticate(user):
            self._refuse(request, "inactive")
        return user

    @staticmethod
    def _refuse(request, reason: str) -> NoReturn:
        if request is not None:
            setattr(request, REFUSAL, reason)
        raise PermissionDenied(reason)
