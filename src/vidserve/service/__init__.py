"""Use cases: create, remix, list, retrieve, delete, content; validation against models."""
