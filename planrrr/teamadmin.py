"""The admin's team model, in one place (docs/operations.md, "The admin and its teams").

A superuser is one of the installation's operators and sees everything. Anybody else sees,
changes and acts on only the rows of the teams they belong to, with the role their
``Membership`` gives them there: a row of another team is a 404, as a row that does not exist.

- ``TeamScopedAdmin`` is the base of every ModelAdmin of a team's rows. It declares the path
  from its model to the team (``team_path``) and the roles that see (``view_roles``) and
  manage (``manage_roles``: add, change, delete, act) its rows, and scopes from them the
  lists, change pages, history, add forms, foreign-key choices, autocomplete, search, filters
  and actions. ``TeamScopedInline`` does the same for inlines.
- ``OperatorsOnlyAdmin`` is the base of the installation-wide admins (users, groups, job
  metrics, the RQ dashboard): the operators' only, whatever permissions a staff user holds.
- The model permissions are the ceiling, the membership role decides within it: the group
  ``TEAM_GROUP`` (kept in step by every ``migrate``, see ``team_group_sync``) holds every
  permission a team member may use in the admin; ``manage.py admin_access`` gives a user it.

publishing.tests.test_admin_teams fails when an admin of a team's rows does not use these.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable

from django.contrib import admin
from django.contrib.admin.filters import (
    AllValuesFieldListFilter,
    RelatedFieldListFilter,
    RelatedOnlyFieldListFilter,
)
from django.contrib.admin.utils import get_fields_from_path
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.db import models
from django.db.models import QuerySet
from django.http import Http404, HttpRequest

from planrrr.models import Membership, Team

Role = Membership.Role
ALL_ROLES: tuple[str, ...] = tuple(Role.values)
# ADMIN and OWNER approve, manage connections, API keys and webhook endpoints, and the team.
MANAGERS: tuple[str, ...] = tuple(Membership.APPROVERS)

# The group an installation puts its team members in (with is_staff) to let them use the admin.
TEAM_GROUP = "Team members"
TEAM_GROUP_PERMISSIONS = (
    "planrrr.view_team",
    "planrrr.change_team",
    "planrrr.view_membership",
    "publishing.view_post",
    "publishing.add_post",
    "publishing.change_post",
    "publishing.view_publication",
    "publishing.change_publication",
    # A channel's weekly posting slots, on its page (ADMIN and OWNER change them).
    "publishing.view_postingslot",
    "publishing.add_postingslot",
    "publishing.change_postingslot",
    "publishing.delete_postingslot",
    "connections.view_connection",
    "connections.add_connection",
    "connections.change_connection",
    "connections.delete_connection",
    "webhooks.view_endpoint",
    "webhooks.add_endpoint",
    "webhooks.change_endpoint",
    "webhooks.delete_endpoint",
    "webhooks.view_event",
    "webhooks.view_delivery",
    "webhooks.view_deliveryattempt",
    "webhooks.change_delivery",
    # A post's and a channel's figures, read-only.
    "analytics.view_tracking",
    "analytics.view_channelsync",
    "api.view_apikey",
    "api.add_apikey",
    "api.change_apikey",
)


# --- who belongs where ---------------------------------------------------------------------


def team_path(model: type[models.Model]) -> str | None:
    """The ORM path from ``model`` to the Team its rows belong to ("team", "post__team";
    "pk" for Team itself), or None for a model whose rows belong to no team. Follows
    many-to-one and one-to-one relations (a channel's analytics row is its connection's), a
    row's own (non-null) ones first."""
    return _team_path(model, frozenset())


def _team_path(model: type[models.Model], seen: frozenset) -> str | None:
    if model is Team:
        return "pk"
    seen = seen | {model}
    relations = sorted(
        (
            f
            for f in model._meta.get_fields()
            if (f.many_to_one or f.one_to_one) and f.concrete and f.related_model not in seen
        ),
        key=lambda f: f.null,
    )
    for field in relations:
        if field.related_model is Team:
            return field.name
    for field in relations:
        path = _team_path(field.related_model, seen)
        if path:
            return field.name if path == "pk" else f"{field.name}__{path}"
    return None


def team_roles(request: HttpRequest) -> dict[int, str]:
    """{team id: role} of the request's user, read once per request."""
    roles = getattr(request, "_planrrr_team_roles", None)
    if roles is None:
        roles = dict(Membership.objects.filter(user_id=request.user.pk).values_list("team_id", "role"))
        request._planrrr_team_roles = roles
    return roles


def team_ids(request: HttpRequest, roles: Iterable[str] = ALL_ROLES) -> list[int]:
    """The teams where the request's user has one of ``roles`` (a superuser's too: use
    ``request.user.is_superuser`` for "every team")."""
    roles = tuple(roles)
    return sorted(team for team, role in team_roles(request).items() if role in roles)


def team_role(request: HttpRequest, team_id: int | None) -> str | None:
    """The user's role in the team (a superuser is an OWNER everywhere), or None."""
    if request.user.is_superuser:
        return Role.OWNER
    return team_roles(request).get(team_id)


def teams_for(user, roles: Iterable[str] = ALL_ROLES) -> QuerySet[Team]:
    """The teams ``user`` has one of ``roles`` in; every team for a superuser."""
    if user.is_superuser:
        return Team.objects.all()
    if not user.is_authenticated:
        return Team.objects.none()
    return Team.objects.filter(memberships__user=user, memberships__role__in=tuple(roles))


def _team_id_of(obj: models.Model, path: str) -> int | None:
    if path == "pk":
        return obj.pk
    *hops, last = path.split("__")
    for hop in hops:
        obj = getattr(obj, hop)
        if obj is None:
            return None
    return getattr(obj, f"{last}_id")


def _choices(request: HttpRequest, model, *, view_roles, manage_roles) -> QuerySet | None:
    """A foreign key's choices for a non-superuser: the teams they manage (a row goes to a team
    they may write in), their teams' members, their teams' rows; None for installation rows."""
    if model is Team:
        return Team.objects.filter(pk__in=team_ids(request, manage_roles))
    if model is get_user_model():
        members = Membership.objects.filter(team_id__in=team_ids(request, view_roles)).values("user_id")
        return model._default_manager.filter(pk__in=members)
    path = team_path(model)
    if path is None:
        return None
    return model._default_manager.filter(**{f"{path}__in": team_ids(request, view_roles)})


def _scoped_choices(model_admin, db_field, request: HttpRequest, kwargs: dict) -> dict:
    """A relation field's form arguments, its choices scoped for a non-superuser."""
    if request.user.is_superuser or "queryset" in kwargs:
        return kwargs
    choices = _choices(
        request, db_field.related_model, view_roles=model_admin.view_roles, manage_roles=model_admin.manage_roles
    )
    return kwargs if choices is None else {**kwargs, "queryset": choices}


# --- filters -------------------------------------------------------------------------------


class ScopedAllValuesFieldListFilter(AllValuesFieldListFilter):
    """The values of a field across a relation ("event__type"), read from the rows this admin
    shows rather than from every row of the related table."""

    def __init__(self, field, request, params, model, model_admin, field_path):
        super().__init__(field, request, params, model, model_admin, field_path)
        self.lookup_choices = (
            model_admin.get_queryset(request).order_by(field_path).values_list(field_path, flat=True).distinct()
        )


def _scoped_filter(model: type[models.Model], entry):
    """A list_filter entry that offers only values of the rows shown: a related field's choices
    (team names!) come from the visible rows, not from the whole related table."""
    if isinstance(entry, str):
        name, cls = entry, None
    elif isinstance(entry, tuple | list):
        name, cls = entry
    else:
        return entry  # a SimpleListFilter: its lookups are its own (the tests walk them)
    if cls is not None:
        if issubclass(cls, RelatedFieldListFilter) and not issubclass(cls, RelatedOnlyFieldListFilter):
            return (name, RelatedOnlyFieldListFilter)
        return entry
    fields = get_fields_from_path(model, name)
    if fields[-1].is_relation:
        return (name, RelatedOnlyFieldListFilter)
    plain = fields[-1].choices or isinstance(fields[-1], models.BooleanField | models.DateField)
    if len(fields) > 1 and not plain:
        return (name, ScopedAllValuesFieldListFilter)
    return entry


# --- the bases -----------------------------------------------------------------------------


class TeamScopedAdmin(admin.ModelAdmin):
    """A ModelAdmin of a team's rows, scoped to the request user's teams and roles (see the
    module docstring). Subclasses set ``team_path`` when the derived one is not the one meant,
    and the roles; ``manage_roles`` must be among ``view_roles``."""

    team_path: str | None = None
    view_roles: tuple[str, ...] = ALL_ROLES
    manage_roles: tuple[str, ...] = ALL_ROLES

    def __init__(self, model, admin_site):
        super().__init__(model, admin_site)
        self.team_path = self.team_path or team_path(model)
        if self.team_path is None:
            raise ImproperlyConfigured(f"{type(self).__name__}: {model.__name__} rows belong to no team.")
        if not set(self.manage_roles) <= set(self.view_roles):
            raise ImproperlyConfigured(f"{type(self).__name__}: manage_roles must be among view_roles.")

    # rows

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        if not queryset.ordered:
            queryset = queryset.order_by("-pk")  # the changelist's own order; autocomplete pages too
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{f"{self.team_path}__in": team_ids(request, self.view_roles)})

    def get_object(self, request: HttpRequest, object_id, from_field=None):
        """Another team's row is a 404, exactly like a row that does not exist (Django would
        redirect to the index with a message)."""
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404(f"No {self.opts.verbose_name} with this id.")
        return obj

    def team_id_of(self, obj: models.Model) -> int | None:
        return _team_id_of(obj, self.team_path)

    def in_teams(self, request: HttpRequest, roles: Iterable[str], obj: models.Model | None = None) -> bool:
        """Whether the user has one of ``roles`` in ``obj``'s team (any team, without ``obj``)."""
        if request.user.is_superuser:
            return True
        ids = team_ids(request, roles)
        return bool(ids) if obj is None else self.team_id_of(obj) in ids

    # permissions: the model permission, then the role

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return super().has_view_permission(request, obj) and self.in_teams(request, self.view_roles, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and self.in_teams(request, self.manage_roles)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return super().has_change_permission(request, obj) and self.in_teams(request, self.manage_roles, obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and self.in_teams(request, self.manage_roles, obj)

    # forms

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        kwargs = _scoped_choices(self, db_field, request, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request: HttpRequest, **kwargs):
        kwargs = _scoped_choices(self, db_field, request, kwargs)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    # the changelist

    def get_list_filter(self, request: HttpRequest):
        filters = super().get_list_filter(request)
        if request.user.is_superuser:
            return filters
        return [_scoped_filter(self.model, entry) for entry in filters]

    def get_actions(self, request: HttpRequest) -> dict:
        """An action declares what it needs (``permissions=[...]``); one that does not needs the
        change permission. Either way it acts only on the rows of the teams the user manages:
        selected ids of any other team are dropped before it runs."""
        actions = super().get_actions(request)
        if request.user.is_superuser:
            return actions
        scoped = {}
        for name, (func, action, description) in actions.items():
            needs = getattr(func, "allowed_permissions", None)
            if needs is None and not self.has_change_permission(request):
                continue
            if needs is not None and set(needs) <= {"view"}:
                scoped[name] = (func, action, description)
            else:
                scoped[name] = (self._managed_only(func), action, description)
        return scoped

    def _managed_only(self, func: Callable) -> Callable:
        @functools.wraps(func)
        def action(model_admin, request, queryset):
            managed = queryset.filter(**{f"{self.team_path}__in": team_ids(request, self.manage_roles)})
            return func(model_admin, request, managed)

        return action


class TeamScopedInline(admin.options.InlineModelAdmin):
    """An inline on a team's row: its foreign-key choices are scoped like the parent's, and
    only ``manage_roles`` of the parent's team add, change or delete its rows (none for
    ``manage_roles = ()``: superusers only)."""

    view_roles: tuple[str, ...] = ALL_ROLES
    manage_roles: tuple[str, ...] = MANAGERS

    def _manages(self, request: HttpRequest, obj) -> bool:
        if request.user.is_superuser:
            return True
        if obj is None:
            return bool(team_ids(request, self.manage_roles))
        return _team_id_of(obj, team_path(type(obj))) in team_ids(request, self.manage_roles)

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return super().has_add_permission(request, obj) and self._manages(request, obj)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return super().has_change_permission(request, obj) and self._manages(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and self._manages(request, obj)

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        kwargs = _scoped_choices(self, db_field, request, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class OperatorsOnlyAdmin(admin.ModelAdmin):
    """Installation-wide rows (users, groups, job metrics, queues): the operators' only, whatever
    permissions a staff user was given."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser and super().has_module_permission(request)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_superuser and super().has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser and super().has_add_permission(request)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_superuser and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_superuser and super().has_delete_permission(request, obj)


def operators_only(view: Callable) -> Callable:
    """A view of the whole installation (RQ's queues and jobs): a signed-in user who is not a
    superuser is refused; anything else goes on to the view's own check (a monitoring token)."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs):
        if request.user.is_authenticated and not request.user.is_superuser:
            raise PermissionDenied("Only the installation's operators (superusers) see this page.")
        return view(request, *args, **kwargs)

    return wrapped


def team_group_sync(*, using: str = "default", **kwargs) -> None:
    """Create TEAM_GROUP with exactly TEAM_GROUP_PERMISSIONS, or set it back to them: run after
    every ``migrate`` (post_migrate), so a new model's permissions reach the group with it."""
    from django.apps import apps
    from django.contrib.auth.management import create_permissions
    from django.contrib.auth.models import Group, Permission

    labels = {name.split(".")[0] for name in TEAM_GROUP_PERMISSIONS}
    if not labels <= set(apps.app_configs):
        return  # a registry narrowed to some apps (a test's available_apps): not the installation
    for label in sorted(labels):
        # Other apps' post_migrate may not have run yet: their permissions are made here first.
        create_permissions(apps.get_app_config(label), verbosity=0, using=using)
    wanted = {tuple(name.split(".")) for name in TEAM_GROUP_PERMISSIONS}
    found = {
        (p.content_type.app_label, p.codename): p
        for p in Permission.objects.using(using)
        .select_related("content_type")
        .filter(content_type__app_label__in=labels, codename__in=[c for _, c in wanted])
    }
    missing = wanted - found.keys()
    if missing:
        raise ImproperlyConfigured(f"TEAM_GROUP_PERMISSIONS names unknown permissions: {sorted(missing)}")
    group, _ = Group.objects.using(using).get_or_create(name=TEAM_GROUP)
    group.permissions.set([found[key] for key in sorted(wanted)])
