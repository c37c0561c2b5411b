"""What a platform declares about itself, once: its names, where its parts live, what it reads
from the environment, and what it can take (docs/adding-a-platform.md).

Every platform package's ``__init__.py`` holds one :class:`Declaration` and the registry
(``connections.platforms``) lists them. Import-light on purpose (strings, numbers and these
dataclasses; no Django): the registry imports every declaration at start, and the adapter, the
client and the stand-in a declaration names by dotted path are imported on first use.
"""

from __future__ import annotations

from dataclasses import dataclass

# Media kinds a platform takes (``Declaration.media``).
IMAGE = "image"
VIDEO = "video"


@dataclass(frozen=True)
class Setting:
    """One variable a platform reads: the environment variable, and the Django setting of the
    same name, which wins (``override_settings`` in tests). Read with
    ``connections.platforms.config.value_of``; docs/configuration.md lists every one."""

    name: str
    # The value when neither is set; its type is the variable's (a "3600" from the environment
    # is read as 3600).
    default: str | int | float | bool
    # For a URL: the path under the stand-in's base where the stand-in plays it ("x" for
    # TWITTER_API_URL: <base>/x), so that tests, the demo and the bench can point it there; ""
    # for a variable the stand-in does not play.
    standin: str = ""


@dataclass(frozen=True)
class Cap:
    """A publishing cap the platform documents: at most ``count`` posts per account within a
    rolling ``window_seconds``. ``live``: the platform reports the account's current figure
    (Instagram's ``content_publishing_limit``), which is then the truth rather than ``count``."""

    count: int
    window_seconds: int
    live: bool = False


@dataclass(frozen=True)
class ProjectQuota:
    """A daily quota of planrrr's own app on the platform (one per installation, shared by every
    account of every team: YouTube's Google Cloud project), reset at midnight in ``zone``: ``units``
    a day, a post costing ``cost`` (both variables, so a project with a raised quota says so). The
    door and the queue count a day's posts across the installation (publishing.services.caps)."""

    units: Setting
    cost: Setting
    zone: str = "UTC"
    # The most the analytics' reads may spend of the project's units a day (None: they spend none of it).
    analytics_units: Setting | None = None


@dataclass(frozen=True)
class Declaration:
    """One platform. ``name`` is the stored value and the API's name (a contract: docs/api.md),
    ``label`` what people read; the rest derives from here (the model choices, the messages,
    the connect page, the settings, the stand-in's URLs)."""

    name: str
    label: str
    # Dotted paths, imported on first use: the adapter class (publishing, reconciliation,
    # comments), the client class that connects and renews accounts, and the stand-in module
    # (its ``urlpatterns``, mounted by connections.platforms.standins).
    adapter: str
    client: str
    standin: str
    # The platform's page: docs/platforms/<name>.md, linked from docs/platforms/README.md.
    docs: str
    # The API's base URL (for per-connection servers, the one a connection that names none
    # uses); None when every connection names its own.
    api_url: Setting | None = None
    # The OAuth app: its client id and secret, and where its consent pages live. None when the
    # platform has no app of planrrr's to configure.
    client_id: Setting | None = None
    client_secret: Setting | None = None
    oauth_url: Setting | None = None
    # Everything else it reads (API versions, scopes, cache lifetimes).
    settings: tuple[Setting, ...] = ()
    # Publishing caps per account, from the platform's documentation (docs/platforms/<name>.md).
    caps: tuple[Cap, ...] = ()
    # A daily quota of planrrr's app across the installation, where the platform has one.
    quota: ProjectQuota | None = None
    # The media kinds it takes.
    media: tuple[str, ...] = (IMAGE,)
    # Whether a post the platform accepted waits for the platform to make it public (a review, a
    # processing step) before it counts as PUBLISHED.
    waits_until_public: bool = False

    @property
    def all_settings(self) -> tuple[Setting, ...]:
        """Every variable it reads, its URLs and app first."""
        named = (self.api_url, self.client_id, self.client_secret, self.oauth_url)
        return (*(setting for setting in named if setting is not None), *self.settings)
