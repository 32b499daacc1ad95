"""Entry point for ``python -m pushdeploy``."""

import sys

from pushdeploy.cli import main

sys.exit(main())
