"""Monitoring providers: Alertmanager (silences) and Prometheus (read-only queries)."""
