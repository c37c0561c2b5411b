"""`manage.py bench` (`make bench`): the real pipeline, measured.

It runs what production runs: a ``planrrr_workers`` pool of ``--workers`` workers forked from one
preloaded parent (``--no-pool``: as many separate ``manage.py rqworker --with-scheduler``
processes; the settings' RQ["WORKER_CLASS"], or ``--worker-class``), the PostgreSQL database
and the Redis server of the settings, and the stand-in platform APIs (``run_mock_apis``) on a
real port, answering after ``--latency-ms`` (the median; with ``--latency-p99-ms`` above it, a
lognormal draw with that 99th percentile). The workers run with DEBUG off, as in production,
and with the retry, rate-limit backoff and lease times cut to seconds so that a run ends. Then:

1. RQ's own throughput on no-op jobs, with the same workers (the baseline);
2. the minimal publish job (``minimal_publish``: one SELECT, one POST to the stand-in, one
   UPDATE) on as many rows, with the same workers: what the pipeline is held against;
3. ``--posts`` posts on ``--platforms``, created through ``post_create`` and all scheduled
   for the same instant a little ahead, published end to end; ``--kills`` random workers are
   killed with SIGKILL while it runs (and replaced);
4. the minimal publish job again once the burst is done: the burst is held against both
   runs (``baselines.minimal_combine``), and against each alone;
5. a steady schedule (``--steady-seconds``, 0 skips it): posts due one after another at
   ``--rate`` posts a second (by default half the throughput just measured), the load of a
   busy team rather than a burst, whose lag is the scheduler's own;
6. one table, headed by the burst's drain time (scheduled_at to the last published_at):
   publications per second against the minimal job's and the no-op rate, lag from
   ``scheduled_at`` to the stand-in receiving the request (for the burst: the time to drain it;
   for the steady schedule: how late each post goes out), job times, CPU, the fleet's memory
   (PSS of all its processes together, at the burst's peak), success, lost posts and duplicate
   posts the stand-in received.

Limits the stand-in reports as the platforms do: X's per-user cap of 2,400 posts a day
(``x-user-limit-24hour-*``), which the adapter honours by waiting for the reset. A run of
more posts than that on TWITTER, with one account, waits a day: use ``--platforms FACEBOOK``.

Isolation: a running fleet never sees the bench's work, nor the bench the fleet's. The bench
works on a PostgreSQL database of its own (``<database>_bench``, created and migrated: a
worker's dispatch finds due posts in the database, whatever Redis it uses) and a Redis database
of its own (``--redis-db``, which must hold no worker and nothing but an earlier bench's
leftovers; it is flushed before and after): ``devtools.stack.isolated``. Its team (posts,
publications, webhook events) is deleted at the end unless ``--keep`` is given; its job metrics
stay, so the counters of that database never go back.

The package: ``run`` (the options, the run and its publishing phases), ``baselines`` (RQ's no-op
jobs and the minimal publish job, on the same workers), ``fleet`` (the workers: started, sampled,
killed), ``jobs`` (the baselines' jobs, which the workers import), ``figures`` (what is computed
from the rows and the stand-in's log, and the table); the command is
``devtools/management/commands/bench.py``. What it measures and the figures: docs/performance.md.
"""
