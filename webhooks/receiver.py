# Until the tests import devtools.receiver (the last commit of the devtools branch removes this module).
from devtools.receiver import *  # noqa: F403
