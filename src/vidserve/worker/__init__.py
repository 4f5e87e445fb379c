"""The worker: claim -> load model (kept resident) -> generate -> encode -> upload -> finish."""
