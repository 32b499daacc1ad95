"""Entry point for ``python -m pushdeploy``."""

import sys

from pushdeploy.cli.main import main

sys.exit(main())
