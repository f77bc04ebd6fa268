"""Health checks."""

urlpatterns: list = []
