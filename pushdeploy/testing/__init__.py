"""The fake fleet: transports in memory that answer pushdeploy's scripts; only tests import it."""
