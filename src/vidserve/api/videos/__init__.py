"""``/v1/videos``: create, list, retrieve, delete, content, remix, edits, extensions."""
