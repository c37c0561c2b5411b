# Until the tests import devtools.processes (the last commit of the devtools branch removes this module).
from devtools.processes import *  # noqa: F403
