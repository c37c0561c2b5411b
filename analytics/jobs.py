"""RQ entry points of the analytics (queue ``analytics``): ids in, the service of the same name."""

from analytics.services import sync


def channel_sync(*, connection_id: int) -> None:
    sync.channel_sync(connection_id=connection_id)
