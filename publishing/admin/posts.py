"""Posts in the admin: a team's calendar of posts, written through the services; a post not yet
publishing (draft, in review, scheduled) is changed on its page through ``post_update``, one that
has started is read-only; all change by their actions (publish now, cancel, retry, review),
times in the team's zone, a chip per target (its account) coloured by its publication's status."""

from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from connections.models import Connection
from planrrr.models import Team
from planrrr.teamadmin import MANAGERS, TeamScopedAdmin, team_ids, team_role, teams_for
from planrrr.timezones import labelled
from publishing import rules, services
from publishing.admin.actions import post_name, retry_post, words
from publishing.admin.forms import PlatformFilter, PostForm
from publishing.admin.publications import PublicationInline
from publishing.models import Post, Publication
from publishing.services.editing import EDITABLE
from publishing.services.queue import queued_targets_of
from publishing.services.retry import RETRYABLE


@admin.register(Post)
class PostAdmin(TeamScopedAdmin):
    # Every member writes, submits, cancels and publishes (the services hold a MEMBER's post for
    # review where the team requires it); approving and rejecting is ADMIN's and OWNER's.
    form = PostForm
    list_display = ["__str__", "team", "status", "platform_chips", "scheduled_local", "published_local"]
    list_filter = ["status", PlatformFilter, "team", "scheduled_at"]
    search_fields = ["content"]
    date_hierarchy = "scheduled_at"
    inlines = [PublicationInline]
    actions = [
        "cancel",
        "publish_now",
        "add_to_queue",
        "queue_top",
        "queue_remove",
        "retry_failed",
        "submit",
        "approve",
        "reject",
    ]
    list_select_related = ["team"]
    change_form_template = "admin/publishing/post/change_form.html"

    def get_urls(self):
        from django.urls import path

        from publishing.dashboard import dashboard

        view = self.admin_site.admin_view(lambda request: dashboard(request, self))
        act = self.admin_site.admin_view(self.act_view)
        return [
            path("dashboard/", view, name="publishing_post_dashboard"),
            path("<int:pk>/act/<slug:action>/", act, name="publishing_post_act"),
            *super().get_urls(),
        ]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("publications__connection")

    def has_approve_permission(self, request: HttpRequest) -> bool:
        return self.has_change_permission(request) and self.in_teams(request, MANAGERS)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        # The channel picker offers the accounts of the teams the person writes for.
        form.channel_teams = None if request.user.is_superuser else team_ids(request)
        return form

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            # A team member writes as themselves: the user list is the operators' only.
            return ["status", "error", "published_local", *([] if request.user.is_superuser else ["author"])]
        system = ["team", "author", "series", "status", "review_note", "reviewed_by", "error", "published_local"]
        if editable(obj) and self.has_change_permission(request, obj):
            # Not yet publishing: what it says, where and when can change (post_update); the
            # platforms follow the channels, the time is shown in the team's zone too.
            return [*system, "platforms", "targets", "scheduled_local"]
        # A post that has started publishing changes through its actions, not by editing fields.
        return [
            *system,
            "content",
            "platforms",
            "targets",
            "media_urls",
            "variants",
            "thread",
            "first_comment",
            "repeat",
            "scheduled_local",
        ]

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        if obj is None:
            return fields
        if editable(obj) and self.has_change_permission(request, obj):
            return fields
        # The stored UTC time is shown once, in the team's zone (scheduled_local); the accounts
        # with their publications (targets), not the ids.
        return [f for f in fields if f not in ("scheduled_at", "channels")]

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        """Show and read times in the team's zone: the post's team, or the team being chosen
        (the add form's POST, ``?team=ID``), or the user's only team; else UTC."""
        if object_id:
            # A post that has started publishing is read-only: it changes through its actions
            # (the buttons above); one that has not is saved through post_update.
            post = self.get_queryset(request).filter(pk=object_id).first() if str(object_id).isdigit() else None
            changing = post is not None and editable(post) and self.has_change_permission(request, post)
            extra_context = {
                **(extra_context or {}),
                "show_save": changing,
                "show_save_and_continue": changing,
                "show_save_and_add_another": False,
                "show_delete": False,
                "post_actions": post_actions_for(post) if post is not None else {},
            }
        with timezone.override(self._zone(request, object_id)):
            response = super().changeform_view(request, object_id, form_url, extra_context)
            if hasattr(response, "render"):
                response.render()  # inside the zone: dates are formatted at render time
        return response

    def _zone(self, request: HttpRequest, object_id) -> ZoneInfo:
        # Only the user's teams: another team's zone is not told, even by a help text.
        visible = teams_for(request.user)
        team = None
        if object_id:
            team = visible.filter(posts__pk=object_id).first() if str(object_id).isdigit() else None
        else:
            team_id = request.POST.get("team") or request.GET.get("team")
            if team_id and str(team_id).isdigit():
                team = visible.filter(pk=team_id).first()
            else:
                teams = Team.objects.filter(memberships__user_id=request.user.pk)[:2]
                team = teams[0] if len(teams) == 1 else None
        return team.zone if team else ZoneInfo("UTC")

    @admin.display(description="scheduled at", ordering="scheduled_at")
    def scheduled_local(self, obj: Post) -> str:
        """The time in the team's zone, naming the zone (and UTC beside it when they differ)."""
        if not obj.scheduled_at:
            return "-"
        zone = obj.team.zone
        local = obj.scheduled_at.astimezone(zone)
        text = f"{local:%Y-%m-%d %H:%M} {zone.key}"
        if local.utcoffset():
            text += f" ({obj.scheduled_at.astimezone(ZoneInfo('UTC')):%H:%M} UTC)"
        return text

    @admin.display(description="published at", ordering="published_at")
    def published_local(self, obj: Post) -> str:
        return labelled(obj.published_at, obj.team.zone) if obj.published_at else "-"

    @admin.display(description="channels")
    def platform_chips(self, obj: Post) -> str:
        """A chip per target (its account, or its platform where it has none yet), coloured by its
        publication's status: which one failed, at a glance."""
        publications = list(obj.publications.all())
        by_channel = {p.connection_id: p for p in publications if p.connection_id}
        by_platform = {p.platform: p for p in publications if not p.connection_id}
        chips = [(f"#{channel}", by_channel.get(channel)) for channel in obj.channels or []]
        covered = {p.platform for p in by_channel.values()}
        # A row written by SQL may hold anything (a NULL element): show it, never fail the page.
        chips += [(str(name), by_platform.get(name)) for name in obj.platforms or [] if name not in covered]
        if not chips:
            chips = [(p.platform, p) for p in publications]
        return format_html_join(" ", '<span title="{}" style="{}">{} {}</span>', (_chip(*chip) for chip in chips))

    @admin.display(description="targets")
    def targets(self, obj: Post) -> str:
        """Each account the post goes to, with its publication's status (the table below has the rest)."""
        publications = {p.connection_id: p for p in obj.publications.all() if p.connection_id}
        accounts = {c.pk: c for c in Connection.objects.filter(pk__in=obj.channels or [], team_id=obj.team_id)}
        rows = []
        for channel in obj.channels or []:
            account = accounts.get(channel)
            publication = publications.get(channel)
            name = rules.channel_label(account) if account else f"#{channel} (account removed)"
            platform = account.get_platform_display() if account else ""
            rows.append((name, platform, publication.status if publication else "-"))
        return format_html_join(mark_safe("<br>"), "{} · {} · {}", rows) or "-"

    def save_model(self, request, obj: Post, form, change: bool) -> None:
        if change:
            # Changed through the door (checked already by the form: post_update_problems).
            given = {name: form.cleaned_data[name] for name in form.changed_data if name in form.cleaned_data}
            try:
                post = services.post_update(post=obj, role=team_role(request, obj.team_id), **given)
            except ValidationError as err:
                self.message_user(request, f"{post_name(obj)}: not changed, {words(err)}", messages.ERROR)
            else:
                obj.__dict__.update(post.__dict__)
                self.show_notices(request, obj)
            return
        if not request.user.is_superuser:
            obj.author = request.user
        services.post_save_new(post=obj, role=team_role(request, obj.team_id))
        for warning in getattr(obj, "warnings", []):
            self.message_user(request, warning, messages.WARNING)
        self.show_notices(request, obj)

    def show_notices(self, request: HttpRequest, post: Post) -> None:
        """What a platform says of a channel although nothing is refused (the API's ``notices``)."""
        for notice in rules.post_notices(post):
            self.message_user(request, f"{post_name(post)}: {notice['message']}", messages.WARNING)

    @admin.action(description="Cancel selected posts (if not started)", permissions=["change"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[Post]) -> None:
        for post in queryset:
            if services.post_cancel(post=post):
                self.message_user(request, f"{post_name(post)}: cancelled.", messages.SUCCESS)
            else:
                post.refresh_from_db()
                self.message_user(
                    request,
                    f"{post_name(post)}: not cancelled, it is {post.status} (only drafts and scheduled posts can be).",
                    messages.WARNING,
                )

    @admin.action(description="Publish selected drafts or scheduled posts now", permissions=["change"])
    def publish_now(self, request: HttpRequest, queryset: QuerySet[Post]) -> None:
        for post in queryset:
            try:
                services.post_schedule(post=post, publish_now=True, role=team_role(request, post.team_id))
            except (ValidationError, PermissionDenied) as err:
                self.message_user(request, f"{post_name(post)}: not published, {words(err)}", messages.ERROR)
            else:
                self.message_user(
                    request, f"{post_name(post)}: publishing now on {', '.join(post.platforms)}.", messages.SUCCESS
                )

    # --- queues (publishing.services.queue) ---

    @admin.action(description="Add selected posts to their channels' queues", permissions=["change"])
    def add_to_queue(self, request: HttpRequest, queryset: QuerySet[Post]) -> None:
        for post in queryset.select_related("team"):
            try:
                post = services.post_queue(post=post, role=team_role(request, post.team_id))
            except (ValidationError, PermissionDenied) as err:
                self.message_user(request, f"{post_name(post)}: not queued, {words(err)}", messages.ERROR)
                continue
            times = ", ".join(
                f"{p.platform} {p.scheduled_at.astimezone(post.team.zone):%a %Y-%m-%d %H:%M}"
                if p.scheduled_at
                else f"{p.platform} held (queue paused)"
                for p in post.publications.order_by("pk")
            )
            self.message_user(request, f"{post_name(post)}: queued ({times}).", messages.SUCCESS)

    @admin.action(description="Move selected queued posts to the top of their queues", permissions=["change"])
    def queue_top(self, request: HttpRequest, queryset: QuerySet[Post]) -> None:
        self._queue_move(request, queryset, services.post_queue_top, "moved to the top of its queues")

    @admin.action(description="Remove selected posts from their queues", permissions=["change"])
    def queue_remove(self, request: HttpRequest, queryset: QuerySet[Post]) -> None:
        self._queue_move(request, queryset, services.post_queue_remove, "out of its queues (a draft again)")

    def _queue_move(self, request: HttpRequest, queryset: QuerySet[Post], move, done: str) -> None:
        for post in queryset:
            try:
                move(post=post)
            except ValidationError as err:
                self.message_user(request, f"{post_name(post)}: {words(err)}", messages.ERROR)
            else:
                self.message_user(request, f"{post_name(post)}: {done}.", messages.SUCCESS)

    # --- review (Team.requires_approval): roles come from Membership, checked by the services ---

    @admin.action(description="Submit selected drafts for review", permissions=["change"])
    def submit(self, request: HttpRequest, queryset: QuerySet[Post]) -> None:
        done = 0
        for post in queryset:
            try:
                services.post_submit(post=post, user=request.user)
                done += 1
            except ValidationError as err:
                self.message_user(request, f"Post #{post.pk}: {words(err)}", messages.ERROR)
        self.message_user(request, f"Submitted {done} of {queryset.count()} posts for review.")

    @admin.action(description="Approve selected posts in review (admins and owners)", permissions=["approve"])
    def approve(self, request: HttpRequest, queryset: QuerySet[Post]):
        """Approve; a post whose time has passed is published now only after the approver
        confirms it on a page that lists them."""
        posts = list(queryset.select_related("team"))
        tolerance = timezone.now() - timezone.timedelta(seconds=settings.SCHEDULE_PAST_TOLERANCE_SECONDS)
        late = [p for p in posts if p.status == Post.Status.IN_REVIEW and (p.scheduled_at or tolerance) <= tolerance]
        if late and request.POST.get("confirm") != "publish_now":
            return self._review_page(request, posts, action="approve", late=late)
        done = 0
        for post in posts:
            try:
                services.post_approve(
                    post=post, role=team_role(request, post.team_id), user=request.user, publish_now=post in late
                )
                done += 1
            except (ValidationError, PermissionDenied) as err:
                self.message_user(request, f"Post #{post.pk}: {words(err)}", messages.ERROR)
        self.message_user(request, f"Approved {done} of {len(posts)} posts.")
        return None

    @admin.action(
        description="Reject selected posts in review, with a note (admins and owners)", permissions=["approve"]
    )
    def reject(self, request: HttpRequest, queryset: QuerySet[Post]):
        posts = list(queryset)
        note = request.POST.get("review_note")
        if note is None:
            return self._review_page(request, posts, action="reject")
        done = 0
        for post in posts:
            try:
                services.post_reject(post=post, role=team_role(request, post.team_id), note=note, user=request.user)
                done += 1
            except (ValidationError, PermissionDenied) as err:
                self.message_user(request, f"Post #{post.pk}: {words(err)}", messages.ERROR)
        self.message_user(request, f"Rejected {done} of {len(posts)} posts.")
        return None

    def _review_page(self, request: HttpRequest, posts: list[Post], *, action: str, late=()) -> TemplateResponse:
        return TemplateResponse(
            request,
            "admin/publishing/post/review.html",
            {
                **self.admin_site.each_context(request),
                "title": "Approve posts" if action == "approve" else "Reject posts",
                "action": action,
                "posts": posts,
                "late": late,
                "opts": self.model._meta,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            },
        )

    @admin.action(description="Retry the failed publications of selected posts", permissions=["change"])
    def retry_failed(self, request: HttpRequest, queryset: QuerySet[Post]) -> None:
        for post in queryset:
            retry_post(self, request, post)

    def act_view(self, request: HttpRequest, pk: int, action: str):
        """The buttons of a post's page: one action on this post, then back to it."""
        post = get_object_or_404(self.get_queryset(request), pk=pk)
        if request.method != "POST" or action not in POST_ACTIONS:
            return HttpResponseNotAllowed(["POST"])
        if not self.has_change_permission(request, post):
            raise PermissionDenied
        getattr(self, action)(request, self.get_queryset(request).filter(pk=post.pk))
        return HttpResponseRedirect(reverse("admin:publishing_post_change", args=[post.pk]))


def editable(post: Post) -> bool:
    """Whether the post's page edits it: it has not started publishing (post_update's rule)."""
    return post.status in EDITABLE


def post_actions_for(post: Post) -> dict[str, str]:
    """The buttons that apply to the post as it is (the services refuse the rest anyway): no
    Publish now or Cancel once it has started publishing, Retry only with a failed publication
    of an ended post, the queue's moves only for a post in a queue."""
    status = post.status
    applies = set()
    if status in (Post.Status.DRAFT, Post.Status.SCHEDULED):
        applies.add("publish_now")
    if status in (Post.Status.DRAFT, Post.Status.IN_REVIEW, Post.Status.SCHEDULED):
        applies.add("cancel")
        queued = queued_targets_of(post)
        applies.update(("queue_top", "queue_remove") if queued else ("add_to_queue",))
    if status in RETRYABLE and any(p.status == Publication.Status.FAILED for p in post.publications.all()):
        applies.add("retry_failed")
    return {action: label for action, label in POST_ACTIONS.items() if action in applies}


# The buttons on a post's page: action name -> label.
POST_ACTIONS = {
    "publish_now": "Publish now",
    "add_to_queue": "Add to queue",
    "queue_top": "Move to top of queue",
    "queue_remove": "Remove from queue",
    "cancel": "Cancel",
    "retry_failed": "Retry failed publications",
}


CHIP_COLOURS = {
    Publication.Status.PUBLISHED: "#1b7f3b",
    Publication.Status.FAILED: "#b42318",
    Publication.Status.PUBLISHING: "#175cd3",
    Publication.Status.PENDING: "#667085",
}


def _chip(name: str, publication: Publication | None) -> tuple[str, str, str, str]:
    platform = publication.platform if publication else name
    if publication and publication.connection_id:
        platform = f"{publication.platform} {publication.connection.name or name}"
    status = publication.status if publication else "-"
    waiting = publication is not None and status == Publication.Status.PENDING and publication.next_attempt_at
    title = publication.error if publication and publication.error else status
    colour = CHIP_COLOURS.get(status, "#98a2b3")
    if waiting and publication.attempt_count:
        status = "RETRYING"
    style = f"display:inline-block;padding:1px 6px;border-radius:8px;color:#fff;background:{colour};font-size:11px"
    return title, style, platform, status
