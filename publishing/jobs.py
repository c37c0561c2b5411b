"""RQ entry points: take ids, call the service of the same name. No logic here."""

from rq import get_current_job

from publishing import services


def post_stage(post_id: int) -> int:
    return services.post_stage(post_id=post_id)


def publication_publish(publication_id: int) -> str:
    job = get_current_job()
    # The delay RQ's Retry will wait if this attempt fails transiently; None when no
    # retry is left, so the service knows this attempt is the last.
    retry_in = job.get_retry_interval() if job is not None and job.retries_left else None
    return services.publication_publish(publication_id=publication_id, retry_in=retry_in)
