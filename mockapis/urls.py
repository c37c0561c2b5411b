"""The stand-in's URLs, relative to wherever it is mounted: under ``mock/`` in the project
(planrrr/urls.py, when MOCK_APIS_ENABLED) or at the root by ``manage.py run_mock_apis``.

So the platform base URLs are ``<base>/graph`` (Facebook and Instagram), ``<base>/x``,
``<base>/linkedin``, ``<base>/bsky`` (a Bluesky PDS: ``<base>/bsky/xrpc/...``) and
``<base>/mastodon`` (a Mastodon instance); their OAuth pages (mockapis.oauth) ``<base>/x/i/oauth2/authorize``,
``<base>/facebook-www/v{N}/dialog/oauth`` and ``<base>/linkedin-www/oauth/v2/...``; media
files are ``<base>/media/<name>``; the control interface is ``<base>/_control/...``.
URL names carry no namespace, so ``reverse`` works both ways.
"""

from django.urls import path, re_path

from . import bluesky, control, graph, linkedin, mastodon, media, oauth, x

# /graph[/v21.0]/<node>: Graph takes an optional version prefix.
VERSION = r"(?:(?P<version>v\d+(?:\.\d+)?)/)?"
GRAPH = r"^graph/" + VERSION + r"(?P<node>[^/]+)"

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
    path("x/i/oauth2/authorize", oauth.x_authorize),
    path("x/2/oauth2/token", oauth.x_token),
    path("x/2/oauth2/revoke", oauth.x_revoke),
    re_path(r"^facebook-www/" + VERSION + r"dialog/oauth/?$", oauth.facebook_dialog),
    # Before GRAPH, which would take "oauth", "me" or "debug_token" for a node.
    re_path(r"^graph/" + VERSION + r"oauth/access_token/?$", oauth.facebook_access_token),
    re_path(r"^graph/" + VERSION + r"debug_token/?$", oauth.facebook_debug_token),
    re_path(r"^graph/" + VERSION + r"me/accounts/?$", oauth.facebook_accounts),
    re_path(r"^graph/" + VERSION + r"me/?$", oauth.facebook_me),
    path("linkedin-www/oauth/v2/authorization", oauth.linkedin_authorization),
    path("linkedin-www/oauth/v2/accessToken", oauth.linkedin_access_token),
    path("linkedin/v2/userinfo", oauth.linkedin_userinfo),
    path("linkedin/rest/organizationAcls", oauth.linkedin_organization_acls),
    path("linkedin/rest/organizations/<str:org_id>", oauth.linkedin_organization),
    re_path(GRAPH + r"/(?:feed|posts|published_posts)/?$", graph.feed),
    re_path(GRAPH + r"/photos/?$", graph.photos),
    re_path(GRAPH + r"/comments/?$", graph.comments),
    re_path(GRAPH + r"/media/?$", graph.ig_media),
    re_path(GRAPH + r"/media_publish/?$", graph.ig_publish),
    re_path(GRAPH + r"/content_publishing_limit/?$", graph.ig_limit),
    re_path(GRAPH + r"/?$", graph.node_object),
    path("x/2/tweets", x.tweets),
    path("x/2/media/upload", x.media_upload),
    path("x/2/users/me", x.users_me),
    path("x/2/users/<str:user_id>/tweets", x.user_tweets),
    path("linkedin/rest/posts", linkedin.posts),
    path("linkedin/rest/socialActions/<str:urn>/comments", linkedin.comments),
    path("linkedin/rest/images", linkedin.images),
    path("linkedin/rest/images/<str:urn>", linkedin.image),
    path("linkedin/upload/<str:token>", linkedin.upload, name="mockapis-linkedin-upload"),
    path("media/<str:name>", media.serve, name="mockapis-media"),
    path("bsky/xrpc/com.atproto.server.createSession", bluesky.create_session),
    path("bsky/xrpc/com.atproto.server.refreshSession", bluesky.refresh_session),
    path("bsky/xrpc/com.atproto.repo.createRecord", bluesky.create_record),
    path("bsky/xrpc/com.atproto.repo.getRecord", bluesky.get_record),
    path("bsky/xrpc/com.atproto.repo.uploadBlob", bluesky.upload_blob),
    path("bsky/xrpc/app.bsky.feed.getAuthorFeed", bluesky.get_author_feed),
    path("bsky/xrpc/com.atproto.identity.resolveHandle", bluesky.resolve_handle),
    path("mastodon/api/v1/apps", mastodon.apps),
    path("mastodon/oauth/authorize", mastodon.authorize),
    path("mastodon/oauth/token", mastodon.token),
    path("mastodon/api/v1/accounts/verify_credentials", mastodon.verify_credentials),
    path("mastodon/api/v2/instance", mastodon.instance),
    path("mastodon/api/v1/statuses", mastodon.statuses),
    path("mastodon/api/v1/accounts/<str:account_id>/statuses", mastodon.account_statuses),
    path("mastodon/api/v2/media", mastodon.media_upload),
    path("mastodon/api/v1/media/<str:media_id>", mastodon.media_item),
]
