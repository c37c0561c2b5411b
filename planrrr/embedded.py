# Until the tests import devtools.embedded (the last commit of the devtools branch removes this module).
from devtools.embedded import *  # noqa: F403
