"""Settings of the worker processes the webhook tests start.

planrrr's settings, plus webhook settings taken from the environment when given, and the
webhook sweep, so a test can give a real worker a retry schedule of a fraction of a second.
"""

from planrrr.settings import *  # noqa: F403
from planrrr.settings import PLANRRR_SWEEPS, env

if env("WEBHOOK_RETRY_SCHEDULE", default=""):
    WEBHOOK_RETRY_SCHEDULE = env.list("WEBHOOK_RETRY_SCHEDULE", cast=float)
if "webhooks.services.delivery_sweep" not in PLANRRR_SWEEPS:
    PLANRRR_SWEEPS = [*PLANRRR_SWEEPS, "webhooks.services.delivery_sweep"]
