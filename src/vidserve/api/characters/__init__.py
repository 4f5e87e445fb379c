"""OpenAI's characters: ``/v1/videos/characters``."""
