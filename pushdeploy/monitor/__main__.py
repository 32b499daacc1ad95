"""Entry point for ``python3 -m pushdeploy.monitor`` (and the zipapp's own ``__main__``)."""

import sys

from pushdeploy.monitor.cli import main

sys.exit(main())
