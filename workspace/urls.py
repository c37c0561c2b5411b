"""/app/: the team workspace (docs/workspace.md). A team's pages are under /app/<team id>/."""

from django.contrib.auth import views as auth_views
from django.urls import include, path

from workspace import views

app_name = "workspace"

team_patterns = [
    path("", views.team_home, name="team"),
    path("preferences/", views.preferences, name="preferences"),
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
]
