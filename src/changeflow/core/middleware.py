"""Attribute audit events to the channel (web or API) and address a request came from."""

from __future__ import annotations

from . import audit


def client_ip(request) -> str:
    # Behind a reverse proxy, set the proxy to overwrite REMOTE_ADDR (e.g. gunicorn's
    # --forwarded-allow-ips); a client-supplied X-Forwarded-For is never trusted here.
    return request.META.get("REMOTE_ADDR", "")[:45]


class AuditOriginMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        channel = "api" if request.path.startswith("/api/") else "web"
        with audit.origin(channel, client_ip(request)):
            return self.get_response(request)


class StorageFailureMiddleware:
    """A page whose file storage fails mid-request (the bucket refuses or does not answer)
    answers 503 saying so, not a 500 (the API's own handler does the same in its format)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        from changeflow.web import error_page

        from .storage import unavailable

        failure = unavailable(exception)
        return error_page(request, failure) if failure else None
