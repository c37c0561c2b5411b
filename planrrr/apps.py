from django.apps import AppConfig
from django.db.models.signals import post_migrate


class PlanrrrConfig(AppConfig):
    name = "planrrr"
    verbose_name = "Teams"

    def ready(self) -> None:
        from planrrr import db
        from planrrr.teamadmin import team_group_sync

        # The admin's group for team members (planrrr.teamadmin), kept in step with the models.
        post_migrate.connect(team_group_sync, sender=self, dispatch_uid="planrrr.team_group_sync")
        db.install()
