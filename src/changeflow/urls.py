from django.urls import include, path

urlpatterns = [
    path("api/v1/", include("changeflow.api_urls")),
    path("", include("changeflow.core.urls")),
    path("", include("changeflow.web_urls")),
]
