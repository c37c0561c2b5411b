"""The post's add form (the rule book's checks, as every entry point) and the platform filter."""

from django import forms
from django.contrib import admin
from django.utils import timezone

from connections.models import Platform
from publishing import rules
from publishing.models import Post


class PostForm(forms.ModelForm):
    """Validates with the same rules as every other entry point (publishing.rules)."""

    class Meta:
        model = Post
        fields = [
            "team",
            "author",
            "content",
            "platforms",
            "media_urls",
            "variants",
            "thread",
            "first_comment",
            "scheduled_at",
            "repeat",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "scheduled_at" in self.fields:
            # PostAdmin.changeform_view makes the team's zone the current one for this request.
            zone = timezone.get_current_timezone_name()
            self.fields[
                "scheduled_at"
            ].help_text = (
                f"Date and time in {zone} (the team's time zone; set it on the team). Leave empty for a draft."
            )

    def clean(self):
        data = super().clean()
        for name, empty in (("variants", {}), ("thread", [])):
            if data.get(name) is None and name in self.fields:
                data[name] = empty
        if self.instance.pk or "team" not in data or "platforms" not in data:
            return data
        problems = rules.post_problems(
            team=data["team"],
            content=data.get("content", ""),
            platforms=list(data.get("platforms") or []),
            media_urls=list(data.get("media_urls") or []),
            scheduled_at=data.get("scheduled_at"),
            variants=data.get("variants"),
            thread=data.get("thread"),
            first_comment=data.get("first_comment", ""),
            repeat=data.get("repeat", ""),
        )
        for field, messages_ in problems.items():
            for message in messages_:
                if field.startswith(("variants.", "thread.")):
                    # variants.TWITTER.content: the one JSON box, with the place inside it named.
                    head, _, rest = field.partition(".")
                    self.add_error(head, f"{rest}: {message}")
                else:
                    self.add_error(field if field in self.fields else None, message)
        return data


class PlatformFilter(admin.SimpleListFilter):
    title = "platform"
    parameter_name = "platform"

    def lookups(self, request, model_admin):
        return Platform.choices

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(platforms__contains=[self.value()])
        return queryset
