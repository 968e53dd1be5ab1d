"""The owners' dashboard: server-rendered pages under /app (Jinja2 + htmx, vendored), served by
the same application as the JSON API and calling the same services."""
