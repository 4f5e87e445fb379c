"""OpenAI's Files API: ``/v1/files``."""
