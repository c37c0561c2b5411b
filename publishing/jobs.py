"""RQ entry points: take ids, call the service of the same name. No logic here. Services
enqueue these by dotted path ("publishing.jobs.publication_publish")."""

from publishing import services


def post_stage(post_id: int) -> int:
    return services.post_stage(post_id=post_id)


def publication_publish(publication_id: int) -> str:
    return services.publication_publish(publication_id=publication_id)


def publications_publish(publication_ids: list[int]) -> list[str]:
    return services.publications_publish(publication_ids=publication_ids)


def publication_first_comment(publication_id: int) -> str:
    return services.publication_first_comment(publication_id=publication_id)


def cap_live_read(connection_id: int) -> int | None:
    return services.cap_live_read(connection_id=connection_id)
