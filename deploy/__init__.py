"""Production serving: the gunicorn settings and the WSGI entry point (see deploy/README.md)."""
