"""The publishing admin: posts, publications, job metrics, and the connections page extended
with the re-queue after a reconnect. Every page of a team's rows is scoped to the user's teams
(planrrr.teamadmin). Django's autodiscovery imports this package; each module registers its
own."""

from publishing.admin import connections, posts, publications

__all__ = ["connections", "posts", "publications"]
