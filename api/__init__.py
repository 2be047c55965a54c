"""Operator-facing interfaces: the ``cems`` command line (``api.cli``) and, later, the HTTP API."""
