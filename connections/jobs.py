"""RQ entry points of the connections app: ids in, the service of the same name called."""

from connections import services
from connections.oauth import OAuthFailure


def connection_refresh(connection_id: int) -> None:
    """The periodic refresh of one connection. A failure is already recorded on the row (backoff
    in ``next_refresh_at``, or EXPIRED): RQ must not retry it on top of that."""
    try:
        services.connection_refresh(connection_id=connection_id)
    except OAuthFailure:
        pass
