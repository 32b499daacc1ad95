"""pushdeploy's process monitor: zero-downtime reloads of an app's workers on the server.

Runs on the server with nothing but python3 (standard library only; a test enforces it), either
as ``python3 -m pushdeploy.monitor`` or as the zipapp ``setup`` uploads (see ``bundle``).
Module map: settings (config), sockets (listeners, LISTEN_FDS hand-off), worker, generation,
readiness, heartbeat, affinity (start-up CPUs), reloads (their record, restart-file touches),
state (status files), supervisor (main loop), control (start/stop/reload/status/logs from
outside), cli, bundle. The design is written up in docs/monitor.md.
"""

# The CLI's exit status when no monitor runs; here, where importing it costs nothing, because the
# client's scripts use it too (pushdeploy.remote.protocol: MONITOR_NOT_RUNNING).
NOT_RUNNING = 3
