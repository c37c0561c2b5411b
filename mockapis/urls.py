"""The stand-in framework's own URLs, relative to wherever the stand-in is mounted: the control
interface ``<base>/_control/...`` and the media files ``<base>/media/<name>``. The platforms'
stand-ins add theirs, assembled with these by connections.platforms.standins (MOCK_APIS_URLCONF):
``<base>/graph`` (Facebook and Instagram), ``<base>/x``, ``<base>/linkedin``, ``<base>/bsky`` (a
Bluesky PDS), ``<base>/mastodon`` (a Mastodon instance), and their OAuth pages. URL names carry no
namespace, so ``reverse`` works both ways.
"""

from django.urls import path

from . import control, media

urlpatterns = [
    path("_control/", control.index),
    path("_control/reset", control.reset),
    path("_control/config", control.config),
    path("_control/fail", control.fail),
    path("_control/media", control.media),
    path("_control/requests", control.requests_log),
    path("_control/posts", control.posts),
    path("_control/comments", control.comments),
    path("_control/tokens", control.tokens),
    path("_control/oauth", control.oauth),
    path("_control/analytics", control.analytics),
    path("media/<str:name>", media.serve, name="mockapis-media"),
]
