from django.apps import AppConfig


class WorkspaceConfig(AppConfig):
    """The team's workspace at /app/: where the people who write, schedule and approve posts
    work (docs/workspace.md). It calls the same services, rules and roles as the API."""

    name = "workspace"
    default_auto_field = "django.db.models.BigAutoField"
