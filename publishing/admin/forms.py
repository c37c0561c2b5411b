"""The post's form, to write a post and to change one not yet publishing (the rule book's checks,
as every entry point), its channel picker, and the platform filter."""

from django import forms
from django.contrib import admin
from django.utils import timezone

from connections.models import Connection, Platform
from publishing import rules, services
from publishing.models import Post


class ChannelsWidget(forms.CheckboxSelectMultiple):
    """A checkbox per account, grouped by platform, each with the account's picture (or a badge
    of its platform), its name and its platform."""

    option_template_name = "admin/publishing/post/channel_option.html"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.accounts: dict[int, Connection] = {}

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        option["account"] = self.accounts.get(int(str(value))) if str(value).isdigit() else None
        return option


def channel_choices(accounts: list[Connection], *, by_team: bool) -> list:
    """[(group, [(id, label), ...]), ...]: the accounts grouped by platform (and team, where the
    person writes for several), in the order of the platforms' names, then the accounts'."""
    groups: dict[str, list] = {}
    for account in sorted(accounts, key=lambda a: (str(a.team), a.platform, a.name or a.account_id, a.pk)):
        group = rules.label(account.platform) + (f" · {account.team}" if by_team else "")
        status = "" if account.status == Connection.Status.ACTIVE else f" ({account.status.lower()}: reconnect it)"
        groups.setdefault(group, []).append((account.pk, f"{rules.channel_label(account)}{status}"))
    return list(groups.items())


class PostForm(forms.ModelForm):
    """Validates with the same rules as every other entry point (publishing.rules); a post that
    exists is changed through ``services.post_update`` (PostAdmin.save_model), checked first."""

    # The teams whose accounts are offered (PostAdmin.get_form sets them for the request).
    channel_teams: list[int] | None = None
    channels = forms.TypedMultipleChoiceField(
        coerce=int,
        required=False,
        widget=ChannelsWidget,
        help_text="The accounts to publish to: your team's connected accounts.",
    )

    class Meta:
        model = Post
        fields = [
            "team",
            "author",
            "content",
            "channels",
            "media_urls",
            "variants",
            "thread",
            "first_comment",
            "scheduled_at",
            "repeat",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "channels" in self.fields:
            self._offer_channels()
        if "scheduled_at" in self.fields:
            # PostAdmin.changeform_view makes the team's zone the current one for this request.
            zone = timezone.get_current_timezone_name()
            self.fields[
                "scheduled_at"
            ].help_text = (
                f"Date and time in {zone} (the team's time zone; set it on the team). Leave empty for a draft."
            )

    def _offer_channels(self) -> None:
        """The team's active accounts (and those the post has, whatever their status, so that a
        person sees an expired one rather than lose it unseen)."""
        teams = [self.instance.team_id] if self.instance.pk else self.channel_teams
        accounts = Connection.objects.filter(status=Connection.Status.ACTIVE).select_related("team")
        if teams is not None:
            accounts = accounts.filter(team_id__in=teams)
        chosen = list(self.instance.channels or []) if self.instance.pk else []
        accounts = list(accounts) + list(
            Connection.objects.filter(pk__in=chosen, team_id=self.instance.team_id)
            .exclude(status=Connection.Status.ACTIVE)
            .select_related("team")
        )
        field = self.fields["channels"]
        field.choices = channel_choices(accounts, by_team=len({a.team_id for a in accounts}) > 1)
        field.widget.accounts = {account.pk: account for account in accounts}
        if self.instance.pk:
            self.initial["channels"] = chosen

    def clean(self):
        data = super().clean()
        for name, empty in (("variants", {}), ("thread", [])):
            if data.get(name) is None and name in self.fields:
                data[name] = empty
        if self.instance.pk:
            problems = services.post_update_problems(
                post=self.instance, **{name: data[name] for name in self.changed_data if name in data}
            )
        elif "team" in data:
            chosen = rules.door_targets(team=data["team"], channels=list(data.get("channels") or []))
            problems = rules.post_problems(
                team=data["team"],
                content=data.get("content", ""),
                platforms=chosen.platforms,
                media_urls=list(data.get("media_urls") or []),
                targets=chosen,
                scheduled_at=data.get("scheduled_at"),
                variants=data.get("variants"),
                thread=data.get("thread"),
                first_comment=data.get("first_comment", ""),
                repeat=data.get("repeat", ""),
            )
            self.instance.platforms = chosen.platforms
        else:
            return data
        for field, messages_ in problems.items():
            for message in messages_:
                if field.startswith(("variants.", "thread.")):
                    # variants.TWITTER.content: the one JSON box, with the place inside it named.
                    head, _, rest = field.partition(".")
                    self.add_error(head, f"{rest}: {message}")
                else:
                    field = "channels" if field == "platforms" else field
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
