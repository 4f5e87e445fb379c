from tests.engine.conftest import tiny_weights  # noqa: F401  (the session's tiny pipelines)
