from django.apps import AppConfig


class PlanrrrConfig(AppConfig):
    name = "planrrr"
    verbose_name = "Teams"
