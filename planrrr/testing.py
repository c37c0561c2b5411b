# Until the tests import devtools.testing (the last commit of the devtools branch removes this module).
from devtools.testing import *  # noqa: F403
