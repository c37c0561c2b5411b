from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from api import analytics, channels, problems, queue, views

app_name = "api"

router = SimpleRouter(trailing_slash=False)
router.register("posts", views.PostViewSet, basename="post")
router.register("publications", views.PublicationViewSet, basename="publication")
router.register("connections", views.ConnectionViewSet, basename="connection")
router.register("channels", channels.ChannelViewSet, basename="channel")
router.register("webhook-endpoints", views.EndpointViewSet, basename="endpoint")
router.register("deliveries", views.DeliveryViewSet, basename="delivery")

urlpatterns = [
    path("me", views.MeView.as_view(), name="me"),
    path("schema", SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]), name="schema"),
    path(
        "docs",
        SpectacularSwaggerView.as_view(url_name="api:schema", authentication_classes=[], permission_classes=[]),
        name="docs",
    ),
    path(
        "redoc",
        SpectacularRedocView.as_view(
            url_name="api:schema", template_name="api/redoc.html", authentication_classes=[], permission_classes=[]
        ),
        name="redoc",
    ),
    *router.urls,
    *queue.urls(),
    *analytics.urls(),
    re_path(r"", problems.not_found),
]
