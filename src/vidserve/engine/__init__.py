"""Engines: the VideoBackend protocol, the model registry and the backends."""
