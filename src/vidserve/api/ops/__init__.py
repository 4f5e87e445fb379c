"""Operations: ``/metrics``, ``/healthz``, ``/readyz``."""
