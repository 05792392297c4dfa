"""HTTP routes: webhooks, the admin API, health and metrics."""
