from django.conf import settings
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/rq/", include("django_rq.urls")),
    path("admin/", admin.site.urls),
    path("", include("connections.urls")),
    path("api/v1/", include("api.urls")),
    path("", include("publishing.urls")),
]

# The stand-in platform APIs, only where configured (tests, the demo, the benchmark).
if settings.MOCK_APIS_ENABLED:
    urlpatterns.append(path("mock/", include("mockapis.urls")))
