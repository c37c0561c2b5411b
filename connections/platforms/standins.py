"""The stand-in platform APIs' URLs, assembled from the registry: the framework's (mockapis.urls:
``_control/``, ``media/``) and every declared platform's stand-in (``Declaration.standin``, its
``urlpatterns``), in DECLARATIONS' order. ``MOCK_APIS_URLCONF`` names this module: planrrr/urls.py
mounts it under ``mock/`` (when MOCK_APIS_ENABLED) and ``manage.py run_mock_apis`` serves it at
the root, so the stand-ins, which build on mockapis, are assembled here rather than in it.

``GET _control/settings`` says which variables point a process at this stand-in, and where under
its base each is played (``Setting.standin``): {"settings": {"TWITTER_API_URL": "x", ...}}.
"""

from __future__ import annotations

from importlib import import_module

from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.http import require_GET

from connections.platforms import DECLARATIONS
from mockapis.urls import urlpatterns as framework


@require_GET
def played_settings(request: HttpRequest) -> JsonResponse:
    return JsonResponse(
        {
            "settings": {
                setting.name: setting.standin
                for declared in DECLARATIONS
                for setting in declared.all_settings
                if setting.standin
            }
        }
    )


urlpatterns = [*framework, path("_control/settings", played_settings)]
# One stand-in may play several platforms' declarations; each is mounted once.
for module in dict.fromkeys(declared.standin for declared in DECLARATIONS):
    urlpatterns += import_module(module).urlpatterns
