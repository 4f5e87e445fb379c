"""Outbound HTTP to client-given URLs, safely (see ``fetch.py``)."""
