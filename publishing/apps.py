from django.apps import AppConfig


class PublishingConfig(AppConfig):
    name = "publishing"

    def ready(self) -> None:
        # Publishing acts on what happens to connections (the connections app imports nothing
        # of ours: it sends signals).
        from connections import signals
        from publishing.services import expiry

        signals.connection_expired.connect(expiry.on_connection_expired, dispatch_uid="publishing-expired")
        signals.connection_expiring.connect(expiry.on_connection_expiring, dispatch_uid="publishing-expiring")
        signals.connection_connected.connect(expiry.on_connection_connected, dispatch_uid="publishing-connected")
