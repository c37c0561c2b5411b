"""Where a post goes: its targets, one per account (channel), and the rules that pick them.

A post names its accounts in ``Post.channels`` (Connection ids, in the order chosen); ``platforms``
is kept in step (the platforms of those accounts). A platform the post names that none of its
channels is on (a row written by SQL with ``platforms`` only, a platform that had no account
when the post was migrated to channels) is a target too, resolved when the post is dispatched:
to the team's one active account on it; with several, that target fails listing them; with
none, it fails saying to connect one (docs/posts.md, "Channels").

The door (``door_targets``) resolves ``channels`` or ``platforms`` the same way for the API, the
admin and the CSV import, and says what to change; the dispatch (``row_targets``) resolves a
stored row, one target failing alone with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from connections.models import Connection, Platform
from planrrr.crypto import is_undecryptable
from planrrr.models import Team
from publishing.rules.messages import (
    UNDECRYPTABLE,
    label,
    no_connection,
    other_team,
    reconnect,
    spoken_list,
    unknown_platform,
    wrong_platform,
)

NO_TARGETS = "Choose at least one channel (an account of your team) to publish to."


def channel_label(connection: Connection) -> str:
    """ "#7 Acme Coffee": how a channel is named in messages."""
    return f"#{connection.pk} {connection.name or connection.account_id}"


def several_accounts(platform: str, accounts: list[Connection]) -> str:
    listed = spoken_list([channel_label(account) for account in accounts])
    return (
        f"{platform} has {len(accounts)} accounts in this team: {listed}: choose channels (their ids) instead of "
        f"{platform}, so that the post goes where you mean."
    )


def not_a_channel(channel: object) -> str:
    return f"Channel {channel!r} is not one of your team's accounts: choose from GET /api/v1/channels."


def channel_listed_twice(channel: int) -> str:
    return f"Channel #{channel} is listed twice: list each channel once."


def connection_problem(team_id: int, platform: str, connection: Connection | None) -> str | None:
    """Why ``connection`` cannot publish ``platform`` for the team, or None."""
    if connection is None:
        return no_connection(team_id, platform)
    if connection.team_id != team_id:
        return other_team(platform, connection)
    if connection.platform != platform:
        return wrong_platform(platform, connection)
    if connection.status != Connection.Status.ACTIVE:
        return reconnect(platform, connection.status_detail or f"Connection #{connection.pk}")
    if is_undecryptable(connection.access_token):
        return reconnect(platform, UNDECRYPTABLE)
    return None


def active_accounts(*, team: Team | int, platforms: list[str] | None = None) -> dict[str, list[Connection]]:
    """The team's active accounts by platform, oldest first."""
    rows = Connection.objects.filter(team=team, status=Connection.Status.ACTIVE)
    if platforms is not None:
        rows = rows.filter(platform__in=platforms)
    found: dict[str, list[Connection]] = {}
    for connection in rows.order_by("created_at", "pk"):
        found.setdefault(connection.platform, []).append(connection)
    return found


@dataclass
class Chosen:
    """What the door resolved: the accounts (in order), their platforms, what is wrong."""

    connections: list[Connection] = field(default_factory=list)
    problems: dict[str, list[str]] = field(default_factory=dict)

    @property
    def platforms(self) -> list[str]:
        return list(dict.fromkeys(connection.platform for connection in self.connections))

    @property
    def ids(self) -> list[int]:
        return [connection.pk for connection in self.connections]

    def add(self, name: str, message: str) -> None:
        self.problems.setdefault(name, []).append(message)


def door_targets(*, team: Team, channels: object = None, platforms: object = None) -> Chosen:
    """The accounts a post written now goes to: ``channels`` (ids of the team's active
    accounts, in order), or ``platforms`` (each with exactly one active account in the team).
    Both given, they must agree: each channel's platform is listed; a platform listed that no
    channel is on is resolved as if given alone (a stored post's channels and the platforms it
    names without one, the way the dispatch resolves them). Problems keyed ``channels`` or
    ``platforms``; known platforms only (the rule book refuses unknown names and names listed
    twice)."""
    chosen = Chosen()
    named = [name for name in platforms or [] if isinstance(name, str)] if isinstance(platforms, list) else []
    if channels is not None:
        _resolve_channels(team, channels, chosen)
        if platforms is None or chosen.problems:
            return chosen
        missing = [name for name in chosen.platforms if name not in named]
        if missing:
            chosen.add(
                "platforms",
                f"The channels include {spoken_list([label(name) for name in missing])} accounts but the platforms "
                f"({', '.join(named) or 'none'}) do not list them: give the channels alone, or list them too.",
            )
            return chosen
        named = [name for name in named if name not in chosen.platforms]
    names = [name for name in named if name in Platform.values]
    accounts = active_accounts(team=team, platforms=names)
    for name in dict.fromkeys(names):
        found = accounts.get(name, [])
        if len(found) == 1:
            chosen.connections.append(found[0])
        elif found:
            chosen.add("platforms", several_accounts(name, found))
        else:
            chosen.add("platforms", no_connection(team.pk, name))
    return chosen


def _resolve_channels(team: Team, channels: object, chosen: Chosen) -> None:
    if not isinstance(channels, list | tuple):
        chosen.add("channels", "Give the channels as a list of channel ids: [3, 7].")
        return
    if not channels:
        chosen.add("channels", NO_TARGETS)
        return
    ids: list[int] = []
    for channel in channels:
        if isinstance(channel, bool) or not isinstance(channel, int) or not 0 < channel < 2**63:
            chosen.add("channels", not_a_channel(channel))
        elif channel in ids:
            chosen.add("channels", channel_listed_twice(channel))
        else:
            ids.append(channel)
    found = {connection.pk: connection for connection in Connection.objects.filter(team=team, pk__in=ids)}
    for channel in ids:
        connection = found.get(channel)
        if connection is None:
            chosen.add("channels", not_a_channel(channel))
        elif problem := connection_problem(team.pk, connection.platform, connection):
            chosen.add("channels", f"Channel {channel_label(connection)}: {problem}")
        else:
            chosen.connections.append(connection)


# --- rows past the door ----------------------------------------------------------------------


@dataclass
class Target:
    """One publication a stored post should have: its platform, its account (None where none
    was found) and, where it cannot be published at all, why."""

    platform: str
    connection: Connection | None
    error: str = ""


def row_targets(post, accounts: dict[str, list[Connection]], connections: dict[int, Connection]) -> list[Target]:
    """The targets of a stored post: each of its channels that is still an account of its team
    (``connections``: the team's, by id), then each platform it names that none of those is on,
    resolved to the team's one active account there (``accounts``: by platform, oldest first).
    A channel's account that is not active stays its target: the attempt refuses it, saying to
    reconnect (as for any expired account)."""
    targets: list[Target] = []
    covered: set[str] = set()
    for channel in dict.fromkeys(post.channels or []):
        connection = connections.get(channel)
        if connection is None or connection.team_id != post.team_id:
            continue  # an account since deleted: its platform, if still named, resolves below
        targets.append(Target(connection.platform, connection))
        covered.add(connection.platform)
    for name in dict.fromkeys(post.platforms or []):
        if name in covered:
            continue
        found = accounts.get(name, [])
        if name not in Platform.values:
            targets.append(Target(name, None, unknown_platform(name)))
        elif len(found) == 1:
            targets.append(Target(name, found[0]))
        elif found:
            targets.append(Target(name, None, several_accounts(name, found)))
        else:
            targets.append(Target(name, None, no_connection(post.team_id, name)))
    return targets


def post_targets(post) -> list[Target]:
    """``row_targets`` of one stored post, reading its team's accounts now."""
    connections = {c.pk: c for c in Connection.objects.filter(team_id=post.team_id)}
    accounts = active_accounts(team=post.team_id)
    return row_targets(post, accounts, connections)
