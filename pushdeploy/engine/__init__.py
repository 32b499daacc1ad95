"""One invocation across hosts: sessions, deploy orchestration, rolling batches, local hooks."""
