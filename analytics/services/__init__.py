"""The analytics' writes (docs/analytics.md): the schedule (schedule.py), the sweep that starts
tracking and enqueues one sync job per channel (sweep.py), the sync itself (sync.py) and the
storage's upkeep (storage.py). Reads are analytics.selectors."""
