"""deploy.conf -> a frozen Environment: loading, the key table, values, hosts, secrets; pure."""
