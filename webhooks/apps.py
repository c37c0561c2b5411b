from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"

    def ready(self) -> None:
        from django.db.models.signals import pre_delete

        from webhooks.models import Endpoint
        from webhooks.services import on_endpoint_delete

        # Deleting an endpoint or a team must not take the webhook counters down with its rows.
        pre_delete.connect(on_endpoint_delete, sender=Endpoint, dispatch_uid="webhooks-endpoint-counts")
