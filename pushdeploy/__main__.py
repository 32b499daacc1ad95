"""Entry point for ``python -m pushdeploy``."""

import sys

from pushdeploy.cli import entry_point

sys.exit(entry_point())
