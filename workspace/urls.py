"""/app/: the team workspace (docs/workspace.md). A team's pages are under /app/<team id>/."""

from django.contrib.auth import views as auth_views
from django.urls import include, path

from workspace import approvals, calendar, posts, views
from workspace.composer import views as composer
from workspace.media import views as media

app_name = "workspace"

team_patterns = [
    path("", views.team_home, name="team"),
    path("preferences/", views.preferences, name="preferences"),
    # The composer (workspace/composer/): a new post, a post not yet publishing, their live check.
    path("compose/", composer.compose, name="compose"),
    path("compose/check/", composer.compose_check, name="compose_check"),
    path("posts/<int:post_id>/edit/", composer.post_edit, name="post_edit"),
    path("posts/<int:post_id>/edit/check/", composer.post_edit_check, name="post_edit_check"),
    path("media/", media.library, name="media"),
    path("media/upload/", media.upload, name="media_upload"),
    path("media/<int:item_id>/delete/", media.delete, name="media_delete"),
    path("media/<int:item_id>/thumbnail/", media.thumbnail, name="media_thumbnail"),
    path("media/<int:item_id>/file/", media.original, name="media_original"),
    path("calendar/", calendar.calendar, name="calendar"),
    path("calendar/move/", calendar.calendar_move, name="calendar_move"),
    path("approvals/", approvals.approvals, name="approvals"),
    path("approvals/<int:post_id>/", approvals.approval_decide, name="approval_decide"),
    path("posts/<int:post_id>/", posts.post_page, name="post"),
    path("posts/<int:post_id>/act/<slug:action>/", posts.post_act, name="post_act"),
]

urlpatterns = [
    path("", views.home, name="home"),
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="workspace/login.html", redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(next_page="workspace:login"), name="logout"),
    path("<int:team_id>/", include(team_patterns)),
    # A library file for the platforms: signed and expiring, no login (workspace.media.services).
    path("m/<str:key>/<int:expires>/<str:signature>/<str:name>", media.signed_file, name="media_file"),
]
