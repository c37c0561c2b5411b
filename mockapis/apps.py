from django.apps import AppConfig


class MockapisConfig(AppConfig):
    name = "mockapis"
    verbose_name = "Stand-in platform APIs"
