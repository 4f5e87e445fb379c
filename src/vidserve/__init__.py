"""vidserve: a self-hosted server that speaks OpenAI's Videos API."""

__version__ = "0.1.0"
