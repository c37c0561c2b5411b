# Until the tests import devtools.stack (the last commit of the devtools branch removes this module).
from devtools.stack import *  # noqa: F403
