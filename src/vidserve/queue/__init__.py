"""The job queue: the videos table *is* the queue (see ``jobs.py``)."""
