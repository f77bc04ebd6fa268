"""``Authorization: Token <token>`` for API clients (tokens are stored hashed)."""

from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from .services import token_authenticate


class TokenAuthentication(authentication.BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("Malformed token header."))
        try:
            token = header[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed(_("Malformed token header.")) from None
        user = token_authenticate(token)
        if user is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        return user, token

    def authenticate_header(self, request):
        return self.keyword
