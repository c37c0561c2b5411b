"""What happens to connections, for the apps that act on it (connections imports nothing of theirs).

The integrator connects receivers in those apps: webhook events (``connection.expired``,
``connection.expiring``, ``connection.connected``), failing the publications waiting on a dead
grant, offering to re-queue them after a reconnect. Every signal is sent with
``sender=Connection`` and only once the change is committed, so a receiver reads the row as
stored and may enqueue work. A receiver's exception is not caught: connect them so they do not
raise (or use ``send_robust`` semantics in the receiver itself).
"""

from django.dispatch import Signal

# The platform said the grant is dead (a refresh answered invalid_grant, X's invalid_request for
# a spent refresh token): the connection was just marked EXPIRED. Sent once per transition.
#   connection: Connection, now EXPIRED, with status_detail set to ``reason``
#   reason: str, the platform's words and what to do ("reconnect the account"), no secret in it
connection_expired = Signal()

# A token that cannot be renewed without the person (no refresh token: Facebook, LinkedIn apps
# without refresh; or a LinkedIn refresh token near its fixed end) expires within
# CONNECTION_EXPIRY_WARNING_DAYS. Sent once per grant (``expiry_warned_at`` records it; a
# reconnect starts over).
#   connection: Connection, still ACTIVE
#   expires_at: datetime, when the account stops working unless reconnected
connection_expiring = Signal()

# An account was connected through the OAuth flow: a new Connection, or an existing one (same
# team, platform and account_id) updated in place with new tokens, ACTIVE again.
#   connection: Connection, ACTIVE
#   created: bool, False for a reconnect (the moment to offer re-queueing what failed because
#            the token had expired)
connection_connected = Signal()
