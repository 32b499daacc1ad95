"""pushdeploy: TJ-style push deploys over SSH.

Importing this stays cheap (version only), which keeps `pushdeploy --help` fast.
"""

__version__ = "0.1.0"
