"""What the admin's actions on posts and publications say, and the retry they share (the API's
move, ``publications_retry``, with its checks)."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from publishing import services
from publishing.models import Post, Publication


def post_name(post: Post) -> str:
    text = post.content if len(post.content) <= 40 else post.content[:39] + "…"
    return f"Post #{post.pk} “{text}”"


def retry_post(model_admin, request: HttpRequest, post: Post, publications: list[Publication] | None = None) -> None:
    """Retry a post's failed publications (publishing.services.publications_retry: the API's move,
    with its checks), saying which and, when it refuses, why (an account not connected: reconnect
    it first, then its failed publications can be re-queued from the connections page).
    ``publications``: the ones asked for, named in the messages (a retry takes all of the post's)."""
    failed = list(post.publications.filter(status=Publication.Status.FAILED))
    named = publications or failed
    label = ", ".join(f"publication #{p.pk} ({p.platform})" for p in named) or "no publication"
    if not failed:
        model_admin.message_user(
            request,
            f"{post_name(post)}: nothing to retry, no publication of it has failed (it is {post.status}).",
            messages.WARNING,
        )
        return
    try:
        retried = services.publications_retry(post=post)
    except ValidationError as err:
        model_admin.message_user(
            request, f"{post_name(post)}: {label} not retried. {' '.join(err.messages)}", messages.ERROR
        )
        return
    names = ", ".join(f"#{p.pk} ({p.platform})" for p in retried)
    model_admin.message_user(request, f"{post_name(post)}: retrying publication(s) {names}.", messages.SUCCESS)


def words(err: Exception) -> str:
    return " ".join(err.messages) if isinstance(err, ValidationError) else str(err)
