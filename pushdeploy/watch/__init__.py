"""Continuous deploys: the watcher, webhooks, looks at the source, etcd turns."""
