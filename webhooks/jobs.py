"""RQ entry points of the webhooks app: ids in, the service of the same name does the work."""

from webhooks import services


def delivery_attempt(delivery_id: int) -> None:
    services.delivery_attempt(delivery_id=delivery_id)
