from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django_rq import urls as rq_urls

from agents.views import mcp
from planrrr.teamadmin import operators_only

# django-rq's pages show every team's jobs (arguments, tracebacks); its own check lets any
# staff user in. Its token-authenticated figures still answer a monitoring token.
rq_patterns = rq_urls.get_api_urlpatterns() + rq_urls.get_admin_urlpatterns()
for pattern in rq_patterns:
    pattern.callback = operators_only(pattern.callback)

urlpatterns = [
    path("admin/rq/", include((rq_patterns, rq_urls.app_name))),
    path("admin/", admin.site.urls),
    path("", include("connections.urls")),
    path("api/v1/", include("api.urls")),
    path("mcp", mcp, name="mcp"),
    path("app/", include("workspace.urls")),
    path("", include("publishing.urls")),
]

# A request Django cannot read (an empty or unknown Host header): under /api/ a problem like the
# API's other answers, elsewhere Django's page.
handler400 = "api.problems.bad_request"

# The stand-in platform APIs, only where configured (tests, the demo, the benchmark).
if settings.MOCK_APIS_ENABLED:
    urlpatterns.append(path("mock/", include(settings.MOCK_APIS_URLCONF)))
