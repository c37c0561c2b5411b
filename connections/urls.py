from django.urls import path

from connections import views

app_name = "connections"

urlpatterns = [
    path("connect/", views.connect_teams, name="connect_teams"),
    path("connect/team/<int:team_id>/", views.connect_team, name="connect"),
    path("connect/team/<int:team_id>/<slug:platform>/start", views.connect_start, name="connect_start"),
    path("connect/<slug:platform>/callback", views.connect_callback, name="connect_callback"),
    path("connect/pick/<str:pick_id>", views.connect_pick, name="connect_pick"),
]
