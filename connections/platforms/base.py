"""The one interface every platform adapter speaks.

An adapter turns a platform's HTTP answers into one of three kinds of outcome:

* success: ``publish`` returns :class:`Published` with the platform's id;
* retry later: it raises :class:`TransientError` (try again with backoff),
  :class:`RateLimited` (try again at ``retry_at``) or :class:`NotReady` (the platform is
  still processing media we sent; look again at ``retry_at``);
* give up: it raises :class:`PermanentError` (with the platform's own message) or
  :class:`TokenExpired` (the connection must be reconnected).

Everything above the adapter is platform-blind: it branches on these classes only.
Adapters never retry by themselves; RQ does (one retry mechanism). The HTTP side every adapter
shares is ``connections.platforms.http``.

Every message of these errors is stored as-is (``Publication.error``), logged and sent in
webhooks, so it is made safe when the error is made: ``planrrr.text.safe_text`` removes the
account's token (and any ``access_token=…`` or ``Bearer …``) and whatever PostgreSQL cannot
store. Errors from a call are scrubbed again with the token of the account it was made for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

from django.conf import settings

from connections.platforms.declaration import IMAGE, VIDEO, Declaration
from connections.platforms.figures import Figures, ListedPost
from connections.platforms.kinds import VIDEO_EXTENSIONS, split_media
from planrrr.text import safe_text
from planrrr.urlsafety import UnsafeURL, check_public_url


class PlatformError(Exception):
    """A classified failure. ``message`` is meant for people: it says what happened and,
    where the platform said why, quotes it."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        maybe_sent: bool = False,
        secrets: Iterable[str | None] = (),
    ):
        message = safe_text(message, secrets=secrets)
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        # True when the platform may have acted on the request although we did not get
        # its answer (read timeout, dropped connection, unreadable success body). The next
        # attempt must reconcile before posting again.
        self.maybe_sent = maybe_sent

    def redact(self, secrets: Iterable[str | None]) -> PlatformError:
        """This error with ``secrets`` removed from its message (and so from its repr); returns it."""
        self.message = safe_text(self.message, secrets=secrets)
        self.args = (self.message, *self.args[1:])
        return self


class TransientError(PlatformError):
    """Try again later with backoff: timeouts, connection errors, 5xx, malformed bodies."""


class RateLimited(PlatformError):
    """The platform refused for now; try again at ``retry_at``."""

    def __init__(self, message: str, *, retry_at: datetime, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.retry_at = retry_at


class NotReady(PlatformError):
    """The platform is still working on something we started (an Instagram container,
    a video upload): check again at ``retry_at``. Not a failure; costs no retry."""

    def __init__(self, message: str, *, retry_at: datetime, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.retry_at = retry_at


class PermanentError(PlatformError):
    """Give up: the platform will never accept this request (validation, duplicate, policy)."""


class Duplicate(PermanentError):
    """The platform refuses the text as one this account already posted (Facebook 506, X 403,
    LinkedIn DUPLICATE_POST). After an attempt whose outcome was lost it usually means that
    attempt went out; the caller says so. ``existing_id``: the post the platform says this one
    duplicates, where it names one (LinkedIn does; X and Facebook do not: None)."""

    def __init__(self, message: str, *, existing_id: str | None = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.existing_id = existing_id


class TokenExpired(PlatformError):
    """The access token is expired or revoked: the team must reconnect the account."""


@dataclass
class Account:
    """What an adapter needs to act for a connection."""

    account_id: str
    access_token: str = field(repr=False)
    # The connection's own API base (a Mastodon instance, a Bluesky PDS); "" for platforms
    # with one API for everybody, whose base comes from the settings.
    base_url: str = ""
    # The connection's ``details``: what the platform said about the account (TikTok's creator
    # info, a Pinterest default board).
    details: dict = field(default_factory=dict)
    # The scopes the account granted, space-separated, as the token endpoint said ("" where it
    # said none, or for a connection made before planrrr kept them).
    scopes: str = ""

    @classmethod
    def of(cls, connection) -> Account:
        """The account of a stored Connection: every call for it goes through here, so none
        forgets the connection's own server."""
        details = connection.details if isinstance(connection.details, dict) else {}
        return cls(
            account_id=connection.account_id,
            access_token=connection.access_token,
            base_url=connection.base_url,
            details=details,
            scopes=getattr(connection, "scopes", "") or "",
        )


@dataclass
class Draft:
    """What to publish, plus ``state``: the publication's metadata, which the adapter may
    read and update (uploaded ``mediaIds``, pending containers) and which is saved after
    every attempt, whatever its outcome."""

    text: str
    media_urls: list[str] = field(default_factory=list)
    state: dict = field(default_factory=dict)
    # Stable for the publication (its part, its first comment) across attempts and unique to this
    # installation, for platforms that take one (Mastodon's Idempotency-Key). A platform may keep
    # it for less time than planrrr waits: it is a second guard, never the only one.
    idempotency_key: str = ""
    # A thread part or a first comment: the platform id of the post this one replies to (X
    # ``reply.in_reply_to_tweet_id``; for a comment, the post commented on), and of the thread's
    # first post (Bluesky's ``reply.root`` needs it); "" for a post of its own.
    reply_to: str = ""
    reply_root: str = ""
    # The target's options (its variant's ``options``: a YouTube title, a Pinterest board), as the
    # adapter's ``options_problems`` accepted them at the door; {} when none.
    options: dict = field(default_factory=dict)
    # Writes ``state`` on the publication's row now, before the attempt ends; False when the
    # attempt lost its claim (it must then send nothing more). A long upload in steps (YouTube's
    # resumable session and offset) calls it after each step, so that a worker killed half-way
    # leaves the next attempt to resume. Nothing to write outside an attempt.
    checkpoint: Callable[[], bool] = field(default=lambda: True, repr=False, compare=False)


@dataclass
class Published:
    external_id: str
    url: str = ""
    metadata: dict = field(default_factory=dict)
    # Set when the platform's usage headers say we are close to its limit: further
    # calls for this account should wait until then.
    slow_down_until: datetime | None = None


class Adapter:
    """Base adapter: declares a platform's limits and validates a draft against them. A subclass
    names its platform's ``declaration``, from which its ``platform`` and ``label`` come."""

    declaration: ClassVar[Declaration]
    platform: ClassVar[str]
    label: ClassVar[str]
    max_text_length: ClassVar[int]
    max_images: ClassVar[int]
    # Videos one post may carry, where the declaration's ``media`` includes VIDEO (a URL's kind:
    # connections.platforms.kinds), and whether one post may carry images and a video together
    # (an Instagram or Threads carousel may; most platforms take one or the other).
    max_videos: ClassVar[int] = 1
    mixes_media: ClassVar[bool] = False
    requires_media: ClassVar[bool] = False
    # Whether ``publish`` takes ``Draft.reply_to`` (threads). Platforms without say so at the door.
    supports_threads: ClassVar[bool] = False
    # A first comment's limit (a platform's own comment limit where it differs from its posts').
    max_comment_length: ClassVar[int] = 2_200
    # Whether ``publish`` sends ``Draft.idempotency_key`` (Mastodon's Idempotency-Key): the caller
    # makes one only for the platforms that take it.
    takes_idempotency_key: ClassVar[bool] = False
    # The options a variant may give this platform (``variants.<PLATFORM or channel id>.options``):
    # name -> what it does, in one line (docs/posts.md, and the message refusing an unknown one).
    options: ClassVar[dict[str, str]] = {}
    # How a form asks for an option whose value is not a line of text: "bool" (true or false),
    # "list" (of words), "json" (an object), "choice" (one of ``option_choices``). The workspace's
    # composer builds its fields from these (docs/workspace.md); the door checks the values.
    option_kinds: ClassVar[dict[str, str]] = {}
    # Engagement figures (docs/analytics.md). How many posts one ``post_metrics`` call reads (X 100
    # ids, Bluesky 25 uris, most platforms 1); 0: planrrr reads no figures from this platform yet.
    metrics_batch: ClassVar[int] = 0
    # The common names the platform never gives, each with why, in words shown to the team (the
    # API's answer, docs/analytics.md): Mastodon counts no views.
    metrics_lacks: ClassVar[dict[str, str]] = {}
    # Calls the analytics may make per account within a window (calls, seconds), well below the
    # platform's own limits for those endpoints, which publishing may share.
    metrics_budget: ClassVar[tuple[int, int]] = (60, 3600)
    # Why the platform gives no figures per post at all, in words for the team, where it still gives
    # the account's own (Google Business Profile: its Performance API is per location, by day);
    # with it and ``metrics_batch`` 0, a post's tracking stops saying so and the account is read.
    post_metrics_absent: ClassVar[str] = ""
    # Whether a thread's parts are posts the platform counts apart (X, Bluesky, Mastodon, Threads):
    # then each is read, and the post's figures are their sum.
    metrics_parts: ClassVar[bool] = False
    # Units of a daily quota of planrrr's app one analytics call costs (YouTube: 1 of the project's
    # units); 0 where the platform has no such quota (analytics.services.quota).
    metrics_quota_cost: ClassVar[int] = 0
    # Whether ``post_metrics`` reads watch time (``watchSeconds``: YouTube, Instagram Reels, Facebook
    # Page videos, Pinterest video pins); elsewhere the API says planrrr reads none from the platform.
    metrics_watch_time: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "declaration" in cls.__dict__:
            cls.platform, cls.label = cls.declaration.name, cls.declaration.label

    def text_length(self, text: str) -> int:
        """Length as the platform counts it (X weighs characters; most count code points)."""
        return len(text)

    def text_count(self, text: str, *, base_url: str = "") -> tuple[int, int]:
        """(the text's length as the platform counts it, the most it takes) for the account whose
        API is at ``base_url``: what ``validate`` compares, and what the workspace's counters show
        as the person types (docs/workspace.md)."""
        return self.text_length(text), self.max_text_length

    def validate(self, *, text: str, media_urls: list[str], base_url: str = "") -> list[str]:
        """Problems that would make the platform refuse this draft, each saying what to change.
        ``base_url``: the connection's own API base, for platforms whose limits are the
        instance's (Mastodon); the others ignore it."""
        problems = []
        length, most = self.text_count(text, base_url=base_url)
        if length > most:
            problems.append(
                f"{self.label} allows at most {most:,} characters; this post has {length:,}. "
                f"Shorten it by {length - most:,}."
            )
        problems.extend(self.media_problems(media_urls))
        return problems

    def media_problems(self, media_urls: list[str]) -> list[str]:
        """What is wrong with a post's media for this platform: kinds it does not take, too many
        of one kind, images and a video together where the platform takes one or the other, or
        none where it needs some."""
        kinds = self.declaration.media
        images, videos = split_media(media_urls)
        label, problems = self.label, []
        if self.requires_media and not media_urls:
            needed = "at least one image" if IMAGE in kinds else "a video"
            if IMAGE in kinds and VIDEO in kinds:
                needed = "at least one image or video"
            what = "a media URL" if IMAGE in kinds else f"a video URL ({', '.join(VIDEO_EXTENSIONS)})"
            problems.append(f"{label} needs {needed}: add {what} or remove {label}.")
        if videos and VIDEO not in kinds:
            problems.append(
                f"{label} takes no video from planrrr: remove {_count(len(videos), 'video')} ({videos[0]}) "
                f"or remove {label}."
            )
        elif len(videos) > self.max_videos:
            problems.append(
                f"{label} takes at most {_count(self.max_videos, 'video')} in a post; this post has {len(videos)}."
            )
        if images and IMAGE not in kinds:
            problems.append(
                f"{label} takes video only: replace {_count(len(images), 'image')} ({images[0]}) with a video URL "
                f"({', '.join(VIDEO_EXTENSIONS)}) or remove {label}."
            )
        elif len(images) > self.max_images:
            problems.append(f"{label} takes at most {self.max_images} images; this post has {len(images)}.")
        if images and videos and not self.mixes_media and IMAGE in kinds and VIDEO in kinds:
            problems.append(
                f"{label} takes images or a video in one post, not both: keep the video or the images for {label}."
            )
        return problems

    def options_problems(self, options: dict, *, details: dict) -> list[str]:
        """What is wrong with a target's options, each saying what to change: names the platform
        does not take here; a subclass adds its values' checks (calling this first). ``details``:
        the connection's (the privacy levels a TikTok account allows)."""
        unknown = [name for name in options if name not in self.options]
        if not unknown:
            return []
        if not self.options:
            return [f"{self.label} takes no options: remove {', '.join(map(repr, unknown))}."]
        return [
            f"{self.label} takes no option {name!r}: its options are {', '.join(self.options)}." for name in unknown
        ]

    def option_choices(self, name: str, *, details: dict) -> list[tuple[str, str]]:
        """(value, label) of what a "choice" option takes for the account whose ``details`` these
        are (a Pinterest account's boards), in the order to offer them; [] when the account's
        details do not say (a text field then)."""
        return []

    def options_notices(self, options: dict, *, details: dict) -> list[str]:
        """What the person scheduling a target should know although nothing is refused (TikTok: an
        app not yet audited posts privately only), each in words; nothing by default. Shown where
        the post is answered (the API's ``notices``, the admin's warnings), never a failure."""
        return []

    def refuse_invalid(self, draft: Draft, *, base_url: str = "") -> None:
        """The rules again at publish time, since rows can be written straight into the database,
        past the door: ``validate`` plus ``media_url_problem`` for every media URL. Raises
        PermanentError naming every problem, if there is any."""
        problems = self.validate(text=draft.text, media_urls=draft.media_urls, base_url=base_url)
        problems.extend(problem for url in draft.media_urls if (problem := media_url_problem(url)))
        if problems:
            raise PermanentError(" ".join(problems))

    def stage(self, account: Account, draft: Draft) -> None:
        """Do ahead of the slot what publishing needs before the post itself (upload media,
        create containers), recording it in ``draft.state`` so that ``publish`` then makes a
        single request. Raises a PlatformError subclass on error. Nothing to do by default."""

    def prepare(self, draft: Draft) -> bool:
        """Fix in ``draft.state``, before the request goes out, what finds its outcome if the
        answer is lost (Bluesky: the record key it will write). True if the state changed: the
        caller then writes it on the publication's row before calling ``publish``, so that a
        worker killed mid-request leaves it to the next attempt's ``find_published``. Nothing
        by default (a platform's idempotency key or a search of recent posts does that)."""
        return False

    def publish(self, account: Account, draft: Draft) -> Published:
        """Publish the draft. Returns Published; raises a PlatformError subclass on error."""
        raise NotImplementedError

    def find_published(self, account: Account, draft: Draft, since: datetime) -> str | None:
        """Reconciliation: the id of the post this draft would be if an attempt since ``since``
        made it (by what planrrr chose before sending, or by its text among the account's recent
        posts; for a thread part, among its posts and replies), or None. Called before retrying an
        attempt whose outcome is unknown, however long after: it must not count on anything the
        platform keeps for less time than planrrr may wait (a rate limit, a person's retry).
        What it finds must be public: where the platform processes it first (a Facebook video), it
        raises NotReady until then, or PermanentError if the processing failed, like ``publish``."""
        raise NotImplementedError

    def post_made_since(self, account: Account, external_id: str, since: datetime) -> bool:
        """Whether ``external_id`` (the post a ``Duplicate`` named) is this account's own published
        post, made since ``since``: then an attempt whose answer was lost made it, and it may be
        adopted. False where the platform cannot say (the default: nothing is adopted that way).
        Raises a PlatformError subclass when the check itself fails."""
        return False

    def publishing_limit(self, account: Account) -> int | None:
        """The account's own publishing cap, as the platform reports it now, for a platform whose
        declaration has a ``live`` cap (Instagram's content_publishing_limit); None where the
        platform reports none. Raises a PlatformError subclass on error."""
        return None

    def comment(self, account: Account, draft: Draft) -> str:
        """Comment ``draft.text`` on the account's post ``draft.reply_to`` (on X, Bluesky and
        Mastodon a reply to it, ``draft.reply_root`` the post too); returns the comment's id.
        ``draft.state`` is the comment's own across its attempts (what ``prepare`` fixes), its
        ``idempotency_key`` the comment's. Raises a PlatformError subclass on error."""
        raise PermanentError(f"{self.label} takes no first comment from planrrr.")

    def find_comment(self, account: Account, draft: Draft, since: datetime) -> str | None:
        """Reconciliation of a first comment whose outcome is unknown, as ``find_published`` for a
        post: the id of the account's comment ``draft`` on ``draft.reply_to``, or None."""
        return None

    def metrics_refused(self, account: Account) -> str | None:
        """Why planrrr reads no figures for this account, in words for the team, or None when it
        does. A platform may refuse some accounts only (LinkedIn: members' posts)."""
        if not self.metrics_batch and not self.post_metrics_absent:
            return f"planrrr reads no engagement figures from {self.label} yet."
        return None

    def post_metrics_refused(self, account: Account) -> str | None:
        """Why planrrr reads no figures for this account's posts (its own may still be read), or None."""
        return self.metrics_refused(account) or (self.post_metrics_absent if not self.metrics_batch else None)

    # Why planrrr lists no posts the account made outside it (the backfill), where it does not.
    backfill_absent: ClassVar[str] = "planrrr does not list the {label} posts an account made outside planrrr yet."

    def backfill_refused(self, account: Account) -> str | None:
        """Why planrrr lists none of this account's posts made outside it, in words for the team, or
        None when it lists them. A platform may refuse some accounts only (LinkedIn: a member's)."""
        return self.backfill_absent.format(label=self.label) if self.backfill_absent else None

    def recent_posts(
        self, account: Account, *, since: datetime, cursor: str | None
    ) -> tuple[list[ListedPost], str | None]:
        """One page of the account's own posts made since ``since``, newest first, from ``cursor``
        (None: the first page), and the cursor of the next page (None: no more since ``since``)."""
        raise PermanentError(self.backfill_refused(account) or f"{self.label} lists no posts.")

    def post_metrics(self, account: Account, external_ids: list[str]) -> dict[str, Figures]:
        """The figures of the account's posts ``external_ids`` (at most ``metrics_batch``), by id; a
        post the platform no longer returns (deleted) is left out. A metric the platform does not
        give is unavailable in that post's Figures, never zero, and never fails the others.
        Raises a PlatformError subclass when the call fails as a whole."""
        raise PermanentError(self.metrics_refused(account) or f"{self.label} reads no post figures.")

    def account_metrics(self, account: Account) -> Figures:
        """The account's own figures now: ``followers`` and whatever else the platform gives about
        the account. Raises a PlatformError subclass on error."""
        raise PermanentError(self.metrics_refused(account) or f"{self.label} reads no account figures.")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def media_url_problem(url: str) -> str | None:
    """Why a media URL cannot be used, in words that say what to change, or None if it can.

    Only http(s) links, and, unless ``MEDIA_ALLOW_PRIVATE_URLS`` is set, only ones that resolve
    to public addresses: Facebook and Instagram fetch the URL themselves, but X and LinkedIn
    make *us* fetch it, and a link to 169.254.169.254 or 10.x must not turn planrrr into a proxy
    into its own network.
    """
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError:  # e.g. "http://[::1": an unbalanced IPv6 bracket
        hostname = None
    if not hostname or parts.scheme not in ("http", "https"):
        return f"Media URL {url!r} is not an http:// or https:// link: use a public link to the image."
    if settings.MEDIA_ALLOW_PRIVATE_URLS:
        return None
    try:
        check_public_url(url)
    except UnsafeURL as err:
        if not err.permanent:
            # The name did not resolve just now: no reason to refuse the post. If it still does
            # not when the image is fetched (by us or by the platform), that attempt fails and
            # is retried.
            return None
        return f"Media URL {url} cannot be used: {err}"
    return None


def parse_time(value: Any) -> datetime | None:
    """A platform's ISO 8601 timestamp (``2024-05-01T10:00:00+0000``, ``...Z``) as an aware
    datetime, UTC when it states no offset; None if it is not one."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
