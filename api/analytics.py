"""Engagement figures over HTTP (docs/analytics.md, "API"): a post's, a channel's, a team's summary.
Thin views over analytics.selectors; each answers JSON, or CSV with ``?format=csv`` or ``Accept:
text/csv``. A post or channel of another team is a 404, as everywhere in the API."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, renderers, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics import selectors
from api.queries import time_filter
from api.views import TeamScoped
from connections.models import Connection
from connections.platforms.figures import POST_NAMES
from publishing.models import Post

FORMATS = ("json", "csv")
# The longest period a summary or a channel's days cover in one answer.
MAX_SPAN = timedelta(days=366)


class CsvRenderer(renderers.BaseRenderer):
    """``text/csv``: the rows a view gives (``{"csv": [dict, ...]}``); an error stays problem+json."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: dict | None = None) -> bytes:
        response = (renderer_context or {}).get("response")
        if not isinstance(data, dict) or "csv" not in data or (response is not None and response.status_code >= 400):
            # A problem (400, 404, 429) keeps its JSON body and its problem+json content type.
            return renderers.JSONRenderer().render(data)
        rows = data["csv"]
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else data.get("columns", []), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue().encode()


# --- the answers' shapes, for the schema --------------------------------------------------------------


class FiguresSerializer(serializers.Serializer):
    """The common figures; null where the platform did not give one (see ``unavailable``)."""

    views = serializers.IntegerField(allow_null=True)
    reach = serializers.IntegerField(allow_null=True)
    likes = serializers.IntegerField(allow_null=True)
    comments = serializers.IntegerField(allow_null=True)
    shares = serializers.IntegerField(allow_null=True)
    saves = serializers.IntegerField(allow_null=True)
    clicks = serializers.IntegerField(allow_null=True)
    videoViews = serializers.IntegerField(allow_null=True)
    watchSeconds = serializers.IntegerField(allow_null=True, help_text="Seconds the video was watched.")


class ReadingSerializer(FiguresSerializer):
    capturedAt = serializers.DateTimeField()


class PartFiguresSerializer(FiguresSerializer):
    externalId = serializers.CharField()
    unavailable = serializers.ListField(child=serializers.CharField(), help_text="Names this part was not given.")
    error = serializers.CharField(required=False, help_text="Why this part has no figures (not returned: deleted?).")


class PublicationFiguresSerializer(serializers.Serializer):
    publicationId = serializers.IntegerField()
    platform = serializers.CharField()
    channelId = serializers.IntegerField(allow_null=True)
    channelName = serializers.CharField(allow_null=True)
    externalId = serializers.CharField(allow_null=True)
    capturedAt = serializers.DateTimeField(allow_null=True, help_text="When the figures were last read.")
    nextSyncAt = serializers.DateTimeField(
        allow_null=True, help_text="When they are read next; null once the schedule ended (day 90) or stopped."
    )
    latest = FiguresSerializer(allow_null=True)
    raw = serializers.DictField(child=serializers.IntegerField(), help_text="The platform's own names and values.")
    unavailable = serializers.DictField(
        child=serializers.CharField(), help_text="Names the platform does not give (or no longer gives), with why."
    )
    notOffered = serializers.CharField(
        allow_null=True, help_text="Why the platform gives no figures for this account (a LinkedIn member)."
    )
    error = serializers.CharField(allow_null=True)
    parts = PartFiguresSerializer(
        many=True,
        help_text="A thread's parts, each read apart where the network counts them apart (X, Bluesky, Mastodon, "
        "Threads), the first post first; ``latest`` and ``series`` are then their sum. Empty for a single post.",
    )
    series = ReadingSerializer(many=True, help_text="Every reading, oldest first.")


class PostAnalyticsSerializer(serializers.Serializer):
    postId = serializers.IntegerField()
    capturedAt = serializers.DateTimeField(allow_null=True)
    nextSyncAt = serializers.DateTimeField(allow_null=True)
    publications = PublicationFiguresSerializer(many=True)


class ChannelDaySerializer(serializers.Serializer):
    day = serializers.DateField()
    capturedAt = serializers.DateTimeField()
    followers = serializers.IntegerField(allow_null=True)
    raw = serializers.DictField(child=serializers.IntegerField())


class ExternalPostSerializer(FiguresSerializer):
    externalId = serializers.CharField()
    publishedByPlanrrr = serializers.BooleanField(help_text="Always false: a post the account made outside planrrr.")
    platform = serializers.CharField()
    channelId = serializers.IntegerField()
    url = serializers.CharField(allow_null=True)
    content = serializers.CharField()
    publishedAt = serializers.DateTimeField()
    capturedAt = serializers.DateTimeField(allow_null=True)
    nextSyncAt = serializers.DateTimeField(allow_null=True)
    error = serializers.CharField(allow_null=True)


class BackfillSerializer(serializers.Serializer):
    state = serializers.ChoiceField(
        choices=["pending", "listing", "done"], help_text="Where the listing of posts made outside planrrr stands."
    )
    since = serializers.DateTimeField(allow_null=True, help_text="How far back it lists (at most 90 days).")
    postsFound = serializers.IntegerField()
    detail = serializers.CharField(allow_null=True, help_text="What it found, or why the network lists no posts.")


class ChannelAnalyticsSerializer(serializers.Serializer):
    channelId = serializers.IntegerField()
    platform = serializers.CharField()
    name = serializers.CharField()
    capturedAt = serializers.DateTimeField(allow_null=True)
    nextSyncAt = serializers.DateTimeField(allow_null=True)
    followers = serializers.IntegerField(allow_null=True)
    raw = serializers.DictField(child=serializers.IntegerField())
    notOffered = serializers.CharField(allow_null=True)
    unavailable = serializers.DictField(child=serializers.CharField())
    status = serializers.CharField(
        allow_null=True, help_text="Why figures wait or are skipped (rate-limited, expired, budget spent), if they do."
    )
    postsTracked = serializers.IntegerField()
    backfill = BackfillSerializer()
    externalPostsTracked = serializers.IntegerField(help_text="The channel's posts made outside planrrr, tracked.")
    externalPosts = ExternalPostSerializer(
        many=True, help_text="Those published in the period, newest first (at most 100), not published by planrrr."
    )
    days = ChannelDaySerializer(many=True)


class TotalsSerializer(FiguresSerializer):
    posts = serializers.IntegerField()


class NetworkTotalsSerializer(TotalsSerializer):
    platform = serializers.CharField()


class ChannelTotalsSerializer(TotalsSerializer):
    channelId = serializers.IntegerField(allow_null=True)
    name = serializers.CharField(allow_null=True)
    platform = serializers.CharField()


class TopPostSerializer(FiguresSerializer):
    postId = serializers.IntegerField()
    publicationId = serializers.IntegerField()
    publishedByPlanrrr = serializers.BooleanField()
    platform = serializers.CharField()
    channelId = serializers.IntegerField(allow_null=True)
    content = serializers.CharField()
    publishedAt = serializers.DateTimeField()
    capturedAt = serializers.DateTimeField(allow_null=True)
    engagement = serializers.IntegerField(help_text="likes + comments + shares + saves.")


class ExternalTopPostSerializer(ExternalPostSerializer):
    engagement = serializers.IntegerField(help_text="likes + comments + shares + saves.")


class NotByPlanrrrSerializer(serializers.Serializer):
    posts = serializers.IntegerField()
    totals = FiguresSerializer()
    byChannel = ChannelTotalsSerializer(many=True)
    topPosts = ExternalTopPostSerializer(many=True)


class SummarySerializer(serializers.Serializer):
    fromTime = serializers.DateTimeField()
    to = serializers.DateTimeField()
    capturedAt = serializers.DateTimeField(allow_null=True)
    nextSyncAt = serializers.DateTimeField(allow_null=True)
    posts = serializers.IntegerField()
    totals = FiguresSerializer()
    byNetwork = NetworkTotalsSerializer(many=True)
    byChannel = ChannelTotalsSerializer(many=True)
    topPosts = TopPostSerializer(many=True)
    notByPlanrrr = NotByPlanrrrSerializer(
        help_text="The channels' posts made outside planrrr (found by their backfill) in the period, apart."
    )

    def get_fields(self):
        # "from" is a Python keyword: the field is declared as fromTime and answered as "from".
        fields = super().get_fields()
        fields["from"] = fields.pop("fromTime")
        return fields


# A CSV answer's schema: its text (the columns are its first line).
CSV = OpenApiResponse(OpenApiTypes.STR, description="The rows as CSV, a header line first.")
FORMAT = OpenApiParameter(
    "format", str, enum=list(FORMATS), description="json (the default) or csv; or send Accept: text/csv."
)
FROM = OpenApiParameter("from", OpenApiTypes.DATETIME, description="Start of the period (RFC 3339).")
TO = OpenApiParameter(
    "to", OpenApiTypes.DATETIME, description="End of the period, excluded (RFC 3339); now if left out."
)
EXAMPLE_FIGURES = {
    "views": 900,
    "reach": None,
    "likes": 40,
    "comments": 2,
    "shares": 4,
    "saves": 5,
    "clicks": None,
    "videoViews": None,
    "watchSeconds": None,
}


class AnalyticsView(TeamScoped, APIView):
    renderer_classes = [renderers.JSONRenderer, CsvRenderer]
    pagination_class = None

    def perform_content_negotiation(self, request, force=False):
        chosen = request.query_params.get("format")
        # force: the answer to an error, which is problem+json whatever was asked.
        if not force and chosen is not None and chosen not in FORMATS:
            raise exceptions.ValidationError({"format": [f"Give format as one of {', '.join(FORMATS)}."]})
        return super().perform_content_negotiation(request, force)

    def answer(self, data: dict, rows: list[dict], columns: list[str]) -> Response:
        if getattr(self.request, "accepted_renderer", None) and self.request.accepted_renderer.format == "csv":
            return Response({"csv": rows, "columns": columns})
        return Response(data)

    def period(self, default: timedelta) -> tuple:
        end = time_filter(self.request, "to") or timezone.now()
        start = time_filter(self.request, "from") or end - default
        if start >= end:
            raise exceptions.ValidationError({"from": ["from must be before to."]})
        if end - start > MAX_SPAN:
            raise exceptions.ValidationError({"from": [f"The period may cover at most {MAX_SPAN.days} days."]})
        return start, end


READING_COLUMNS = ["publicationId", "platform", "channelId", "capturedAt", *POST_NAMES]


@extend_schema(tags=["analytics"])
class PostAnalyticsView(AnalyticsView):
    @extend_schema(
        parameters=[FORMAT],
        responses={(200, "application/json"): PostAnalyticsSerializer, (200, "text/csv"): CSV},
        examples=[
            OpenApiExample(
                "A post on X",
                value={
                    "postId": 41,
                    "capturedAt": "2026-11-24T11:00:04Z",
                    "nextSyncAt": "2026-11-24T12:00:04Z",
                    "publications": [
                        {
                            "publicationId": 7,
                            "platform": "TWITTER",
                            "channelId": 3,
                            "channelName": "Acme Coffee",
                            "externalId": "1346889436626259968",
                            "capturedAt": "2026-11-24T11:00:04Z",
                            "nextSyncAt": "2026-11-24T12:00:04Z",
                            "latest": EXAMPLE_FIGURES,
                            "raw": {"impression_count": 900, "like_count": 40, "reply_count": 2, "retweet_count": 3},
                            "unavailable": {"reach": "X gives no reach (unique viewers) in public_metrics."},
                            "notOffered": None,
                            "error": None,
                            "series": [{"capturedAt": "2026-11-24T11:00:04Z", **EXAMPLE_FIGURES}],
                        }
                    ],
                },
                response_only=True,
            )
        ],
    )
    def get(self, request, pk: str):
        """A post's engagement figures, publication by publication: the latest, every reading
        since it was published, and what the platform does not give."""
        post = get_object_or_404(Post.objects.filter(team=self.team), pk=pk)
        data = selectors.post_analytics(post=post)
        rows = [
            {
                "publicationId": item["publicationId"],
                "platform": item["platform"],
                "channelId": item["channelId"],
                **{name: reading[name] for name in ("capturedAt", *POST_NAMES)},
            }
            for item in data["publications"]
            for reading in item["series"]
        ]
        return self.answer(data, rows, READING_COLUMNS)


@extend_schema(tags=["analytics"])
class ChannelAnalyticsView(AnalyticsView):
    @extend_schema(
        parameters=[FROM, TO, FORMAT],
        responses={(200, "application/json"): ChannelAnalyticsSerializer, (200, "text/csv"): CSV},
        examples=[
            OpenApiExample(
                "A Bluesky account",
                value={
                    "channelId": 3,
                    "platform": "BLUESKY",
                    "name": "Acme Coffee",
                    "capturedAt": "2026-11-24T11:00:04Z",
                    "nextSyncAt": "2026-11-24T12:00:04Z",
                    "followers": 1520,
                    "raw": {"followersCount": 1520, "followsCount": 150, "postsCount": 88},
                    "notOffered": None,
                    "unavailable": {"views": "Bluesky counts no views."},
                    "status": None,
                    "postsTracked": 12,
                    "days": [{"day": "2026-11-24", "capturedAt": "2026-11-24T11:00:04Z", "followers": 1520, "raw": {}}],
                },
                response_only=True,
            )
        ],
    )
    def get(self, request, pk: str):
        """A channel's followers and account figures by day (the last 90 days unless ``from`` and
        ``to`` say), and why its figures wait, if they do."""
        channel = get_object_or_404(Connection.objects.filter(team=self.team), pk=pk)
        start, end = self.period(timedelta(days=90))
        data = selectors.channel_analytics(channel=channel, start=start, end=end)
        rows = [
            {"channelId": channel.pk, "day": day["day"], "capturedAt": day["capturedAt"], "followers": day["followers"]}
            for day in data["days"]
        ]
        return self.answer(data, rows, ["channelId", "day", "capturedAt", "followers"])


@extend_schema(tags=["analytics"])
class SummaryView(AnalyticsView):
    @extend_schema(
        parameters=[
            FROM,
            TO,
            OpenApiParameter("top", int, description="How many top posts (1 to 100, 10 unless given)."),
            FORMAT,
        ],
        responses={(200, "application/json"): SummarySerializer, (200, "text/csv"): CSV},
    )
    def get(self, request):
        """The team's posts published in the period (the last 7 days unless ``from`` and ``to``
        say): totals, by network, by channel, and the top posts by engagement."""
        start, end = self.period(timedelta(days=7))
        top = request.query_params.get("top", "10")
        if not (top.isascii() and top.isdigit()) or not 1 <= int(top) <= 100:
            raise exceptions.ValidationError({"top": ["Give top as a whole number from 1 to 100."]})
        data = selectors.summary(team_id=self.team.pk, start=start, end=end, top=int(top))
        columns = ["scope", "platform", "channelId", "name", "postId", "posts", *POST_NAMES]
        rows = [
            *({"scope": "network", "platform": n["platform"], **_figures(n)} for n in data["byNetwork"]),
            *(
                {
                    "scope": "channel",
                    "platform": c["platform"],
                    "channelId": c["channelId"],
                    "name": c["name"],
                    **_figures(c),
                }
                for c in data["byChannel"]
            ),
            *(
                {
                    "scope": "post",
                    "platform": p["platform"],
                    "channelId": p["channelId"],
                    "postId": p["postId"],
                    **_figures(p),
                }
                for p in data["topPosts"]
            ),
            *(
                {
                    "scope": "channel not by planrrr",
                    "platform": c["platform"],
                    "channelId": c["channelId"],
                    "name": c["name"],
                    **_figures(c),
                }
                for c in data["notByPlanrrr"]["byChannel"]
            ),
        ]
        return self.answer(data, [{column: row.get(column) for column in columns} for row in rows], columns)


def _figures(row: dict) -> dict:
    return {"posts": row.get("posts"), **{name: row[name] for name in POST_NAMES}}


ID = r"(?P<pk>[0-9]{1,19})"


def urls():
    """The routes, mounted by api.urls before its catch-all."""
    from django.urls import re_path

    return [
        re_path(rf"^posts/{ID}/analytics$", PostAnalyticsView.as_view(), name="post-analytics"),
        re_path(rf"^channels/{ID}/analytics$", ChannelAnalyticsView.as_view(), name="channel-analytics"),
        re_path(r"^analytics/summary$", SummaryView.as_view(), name="analytics-summary"),
    ]
