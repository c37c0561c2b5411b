"""The HTTP API: thin views over the services (publishing.services, webhooks.services). A key
sees its own team's rows only: every query starts from ``request.auth.team``, so another team's
id is a 404, never a 403."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from api import serializers as s
from api.idempotency import HEADER, answers_with_secret, idempotent
from api.problems import flatten, from_django
from api.queries import (
    PLATFORM_FILTER,
    Cursor,
    choice_filter,
    choices_filter,
    id_filter,
    id_parameter,
    time_filter,
    unknown_status,
)
from connections.models import Connection, Platform
from publishing import rules, services
from publishing.models import Post, Publication
from webhooks import services as webhooks
from webhooks.models import Delivery, Endpoint


class TeamScoped:
    """The key's team, and Idempotency-Key on every POST."""

    pagination_class = Cursor
    # ASCII digits only: \d would take other scripts' digits too.
    lookup_value_regex = r"[0-9]{1,19}"

    @property
    def team(self):
        return self.request.auth.team

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # authenticated, allowed, not throttled
        if request.method == "POST" and HEADER in request.headers:
            # DRF's dispatch looks the handler up after this: it runs under the key.
            self.post = idempotent(self, self.post)

    def page(self, queryset, serializer_class):
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(serializer_class(page, many=True).data)


# --- posts -----------------------------------------------------------------------------------


@extend_schema(tags=["posts"])
class PostViewSet(TeamScoped, viewsets.GenericViewSet):
    serializer_class = s.PostSerializer
    queryset = Post.objects.none()
    # What a post's state can refuse (409): only drafts can be submitted, published ones not changed...
    conflicts = {"update", "partial_update", "cancel", "retry", "publish_now", "submit", "approve", "reject"}

    def get_queryset(self):
        return Post.objects.filter(team=self.team).prefetch_related("publications")

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "status",
                {"type": "array", "items": {"type": "string", "enum": Post.Status.values}},
                style="form",
                explode=False,
                description="One status, or several: SCHEDULED,FAILED",
            ),
            PLATFORM_FILTER,
            OpenApiParameter("scheduledFrom", OpenApiTypes.DATETIME, description="scheduledAt at or after (RFC 3339)"),
            OpenApiParameter("scheduledTo", OpenApiTypes.DATETIME, description="scheduledAt before (RFC 3339)"),
        ]
    )
    def list(self, request):
        posts = self.get_queryset()
        if statuses := choices_filter(request, "status", Post.Status.values):
            posts = posts.filter(status__in=statuses)
        if platform := choice_filter(request, "platform", Platform.values, rules.unknown_platform):
            posts = posts.filter(platforms__contains=[platform])
        if (start := time_filter(request, "scheduledFrom")) is not None:
            posts = posts.filter(scheduled_at__gte=start)
        if (end := time_filter(request, "scheduledTo")) is not None:
            posts = posts.filter(scheduled_at__lt=end)
        return self.page(posts, s.PostSerializer)

    def retrieve(self, request, pk=None):
        return Response(s.PostSerializer(self.get_object()).data)

    @extend_schema(request=s.PostCreateSerializer, responses={201: s.PostSerializer})
    def create(self, request):
        data = s.PostCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        post = services.post_create(team=self.team, role=self.role, **data.service_fields())
        return self.created(post)

    @extend_schema(request=s.PostWriteSerializer, responses=s.PostSerializer)
    def update(self, request, pk=None):
        """Replace a DRAFT or SCHEDULED post (fields left out get their defaults)."""
        return self._update(s.PostWriteSerializer(data=request.data))

    @extend_schema(request=s.PostPatchSerializer, responses=s.PostSerializer)
    def partial_update(self, request, pk=None):
        """Change some fields of a DRAFT or SCHEDULED post; ``scheduledAt: null`` makes it a draft."""
        return self._update(s.PostPatchSerializer(data=request.data))

    def _update(self, data):
        post = self.get_object()
        data.is_valid(raise_exception=True)
        post = services.post_update(post=post, role=self.role, **data.service_fields())
        return Response(s.PostSerializer(self._fresh(post)).data)

    @extend_schema(request=None, responses=s.PostSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel a post that has not started publishing (409 if it has)."""
        post = self.get_object()
        if not services.post_cancel(post=post):
            post.refresh_from_db()
            raise from_django(
                DjangoValidationError(
                    f"Post #{post.pk} is {post.status.lower()}: only drafts and scheduled posts can be cancelled."
                )
            )
        return Response(s.PostSerializer(self._fresh(post)).data)

    @extend_schema(request=None, responses=s.PostSerializer)
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        """Try the FAILED publications of a FAILED or PARTIAL post again; published ones stay."""
        post = self.get_object()
        services.publications_retry(post=post)
        return Response(s.PostSerializer(self._fresh(post)).data)

    @extend_schema(request=None, responses=s.PostSerializer)
    @action(detail=True, methods=["post"], url_path="publish-now")
    def publish_now(self, request, pk=None):
        """Publish a DRAFT or SCHEDULED post now."""
        post = services.post_schedule(post=self.get_object(), publish_now=True, role=self.role)
        return Response(s.PostSerializer(self._fresh(post)).data)

    @extend_schema(request=None, responses=s.PostSerializer)
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        """Submit a DRAFT for review (IN_REVIEW); an approve key approves or rejects it."""
        post = services.post_submit(post=self.get_object())
        return Response(s.PostSerializer(self._fresh(post)).data)

    @extend_schema(request=s.ApproveSerializer, responses=s.PostSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        """Approve a post IN_REVIEW (approve keys only: 403 otherwise): it is SCHEDULED at its time.
        If that time has passed, say ``publishNow: true`` (or give a new ``scheduledAt``)."""
        data = s.ApproveSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        post = services.post_approve(
            post=self.get_object(),
            role=self.role,
            publish_now=data.validated_data["publishNow"],
            scheduled_at=data.validated_data["scheduledAt"],
        )
        return Response(s.PostSerializer(self._fresh(post)).data)

    @extend_schema(request=s.RejectSerializer, responses=s.PostSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        """Reject a post IN_REVIEW with a note (approve keys only: 403 otherwise): a DRAFT again."""
        data = s.RejectSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            post = services.post_reject(post=self.get_object(), role=self.role, note=data.validated_data["note"])
        except DjangoValidationError as err:
            if hasattr(err, "error_dict") and "review_note" in err.error_dict:
                # The post keeps it as review_note; the client sent it as note.
                raise exceptions.ValidationError({"note": err.message_dict["review_note"]}) from err
            raise
        return Response(s.PostSerializer(self._fresh(post)).data)

    @property
    def role(self) -> str:
        """The team role the key acts with: an approve key is an ADMIN, any other a MEMBER."""
        return self.request.auth.member_role

    @extend_schema(request=s.BulkSerializer, responses=s.BulkResultSerializer)
    @action(detail=False, methods=["post"])
    def bulk(self, request):
        """Create up to 500 posts. Each is created (201) or refused with its errors (400) on its
        own, in its own transaction; the answer lists them in the order given."""
        body = s.BulkSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        results = []
        for index, item in enumerate(body.validated_data["posts"]):
            data = s.PostCreateSerializer(data=item)
            try:
                data.is_valid(raise_exception=True)
                with transaction.atomic():
                    post = services.post_create(team=self.team, role=self.role, **data.service_fields())
            except exceptions.ValidationError as err:
                results.append({"index": index, "status": 400, "errors": _errors(err.detail)})
            except DjangoValidationError as err:
                results.append({"index": index, "status": 400, "errors": _errors(from_django(err).detail)})
            else:
                results.append({"index": index, "status": 201, "post": s.PostSerializer(self._fresh(post)).data})
        created = sum(1 for r in results if r["status"] == 201)
        return Response({"created": created, "failed": len(results) - created, "results": results})

    def created(self, post: Post) -> Response:
        location = reverse("api:post-detail", args=[post.pk])
        return Response(
            s.PostSerializer(self._fresh(post)).data, status=status.HTTP_201_CREATED, headers={"Location": location}
        )

    def _fresh(self, post: Post) -> Post:
        return self.get_queryset().get(pk=post.pk)


def _errors(detail) -> dict[str, list[str]]:
    return flatten(detail if isinstance(detail, dict) else {"": detail})


# --- read-only resources -----------------------------------------------------------------------


@extend_schema(tags=["publications"])
@extend_schema_view(
    list=extend_schema(
        parameters=[
            id_parameter("post", "Publications of this post."),
            PLATFORM_FILTER,
            OpenApiParameter("status", {"type": "string", "enum": Publication.Status.values}),
        ]
    )
)
class PublicationViewSet(TeamScoped, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = s.PublicationSerializer
    queryset = Publication.objects.none()

    def get_queryset(self):
        rows = Publication.objects.filter(post__team=self.team)
        if self.action == "list":
            if (post := id_filter(self.request, "post", "a post")) is not None:
                rows = rows.filter(post_id=post)
            if platform := choice_filter(self.request, "platform", Platform.values, rules.unknown_platform):
                rows = rows.filter(platform=platform)
            statuses = Publication.Status.values
            if state := choice_filter(self.request, "status", statuses, unknown_status(statuses)):
                rows = rows.filter(status=state)
        return rows


@extend_schema(tags=["connections"])
class ConnectionViewSet(TeamScoped, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The team's connected accounts: platform, name, status, expiry; never a token."""

    serializer_class = s.ConnectionSerializer
    queryset = Connection.objects.none()

    def get_queryset(self):
        return Connection.objects.filter(team=self.team)


# --- webhooks --------------------------------------------------------------------------------


@extend_schema(tags=["webhooks"])
class EndpointViewSet(
    TeamScoped,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = s.EndpointSerializer
    queryset = Endpoint.objects.none()

    def get_queryset(self):
        return Endpoint.objects.filter(team=self.team)

    @extend_schema(request=s.EndpointWriteSerializer, responses={201: s.EndpointCreatedSerializer})
    @answers_with_secret
    def create(self, request):
        """Create an endpoint. Its signing secret is in this answer only: keep it."""
        data = s.EndpointWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        active = fields.pop("active", True)
        endpoint = webhooks.endpoint_create(team=self.team, **fields)
        if not active:
            endpoint = webhooks.endpoint_update(endpoint=endpoint, active=False)
        body = {**s.EndpointSerializer(endpoint).data, "secret": endpoint.secret}
        location = reverse("api:endpoint-detail", args=[endpoint.pk])
        return Response(body, status=status.HTTP_201_CREATED, headers={"Location": location})

    @extend_schema(request=s.EndpointWriteSerializer, responses=s.EndpointSerializer)
    def update(self, request, pk=None):
        return self._update(s.EndpointWriteSerializer(data=request.data))

    @extend_schema(request=s.EndpointPatchSerializer, responses=s.EndpointSerializer)
    def partial_update(self, request, pk=None):
        return self._update(s.EndpointPatchSerializer(data=request.data))

    def _update(self, data):
        endpoint = self.get_object()
        data.is_valid(raise_exception=True)
        endpoint = webhooks.endpoint_update(endpoint=endpoint, **data.validated_data)
        return Response(s.EndpointSerializer(endpoint).data)

    def destroy(self, request, pk=None):
        webhooks.endpoint_delete(endpoint=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=s.SecretSerializer)
    @action(detail=True, methods=["post"])
    @answers_with_secret
    def rotate(self, request, pk=None):
        """A new signing secret (in this answer only); the old one keeps signing for a day."""
        return Response({"secret": webhooks.endpoint_rotate_secret(endpoint=self.get_object())})

    @extend_schema(request=None, responses={202: s.DeliverySerializer})
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        """Send a ``webhook.test`` event to this endpoint."""
        delivery = webhooks.endpoint_send_test_event(endpoint=self.get_object())
        return Response(s.DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


@extend_schema(tags=["webhooks"])
@extend_schema_view(
    list=extend_schema(
        parameters=[
            id_parameter("endpoint", "Deliveries to this endpoint."),
            OpenApiParameter("status", {"type": "string", "enum": Delivery.Status.values}),
        ]
    )
)
class DeliveryViewSet(TeamScoped, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = s.DeliverySerializer
    queryset = Delivery.objects.none()

    def get_queryset(self):
        rows = (
            Delivery.objects.filter(endpoint__team=self.team)
            .select_related("event")
            .prefetch_related("attempts")
            .defer("event__payload")
        )
        if self.action == "list":
            if (endpoint := id_filter(self.request, "endpoint", "an endpoint")) is not None:
                rows = rows.filter(endpoint_id=endpoint)
            statuses = Delivery.Status.values
            if state := choice_filter(self.request, "status", statuses, unknown_status(statuses)):
                rows = rows.filter(status=state)
        return rows

    @extend_schema(request=None, responses={202: s.DeliverySerializer})
    @action(detail=True, methods=["post"])
    def redeliver(self, request, pk=None):
        """Send this delivery's event to its endpoint again (same event id), as a new delivery."""
        again = webhooks.delivery_redeliver(delivery=self.get_object())
        return Response(s.DeliverySerializer(self.get_queryset().get(pk=again.pk)).data, status=202)


# --- me ----------------------------------------------------------------------------------------


class MeView(APIView):
    @extend_schema(tags=["me"], responses=s.MeSerializer)
    def get(self, request):
        """The key's team and the key itself."""
        key = request.auth
        team = key.team
        return Response(
            {
                "team": {"id": team.pk, "name": team.name, "timezone": team.timezone},
                "key": {"id": key.pk, "name": key.name, "prefix": key.prefix, "role": key.role},
                "role": key.role,
            }
        )
