"""REST API v1 routes (see docs: API.md)."""

urlpatterns: list = []
