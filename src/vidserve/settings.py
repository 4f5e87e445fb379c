"""One settings tree (env prefix ``VIDSERVE_``), validated at start and passed explicitly.

Nothing else in vidserve reads ``os.environ``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VIDSERVE_", extra="ignore", frozen=True)

    data_dir: Path = Path("./vidserve-data")
    database_url: str = ""
    """SQLAlchemy URL; default ``sqlite+aiosqlite:///{data_dir}/vidserve.db``."""
    storage_url: str = ""
    """``file:///abs/path``, ``memory://`` or ``s3://bucket/prefix``; default
    ``file://{data_dir}/assets``."""
    # S3-compatible storage (AWS S3, MinIO, R2, ...); empty values fall back to the AWS_*
    # environment variables and instance/pod credentials
    s3_endpoint_url: str = ""
    """e.g. ``http://minio:9000``; empty for AWS S3."""
    s3_region: str = ""
    s3_access_key_id: str = ""
    s3_secret_access_key: str = Field(default="", repr=False)
    s3_session_token: str = Field(default="", repr=False)
    s3_allow_http: bool = False
    """Allow a plain-http endpoint (MinIO on a private network, tests)."""
    s3_virtual_hosted_style: bool = False
    storage_timeout_seconds: float = Field(default=60.0, gt=0)
    """Per request to the bucket (connecting: at most 5 s)."""
    storage_retry_seconds: float = Field(default=120.0, ge=0)
    """How long a worker retries an upload (bucket down) before handing the job back."""
    content_redirect: bool = False
    """Downloads answer 307 to a presigned bucket URL instead of streaming (S3 only)."""
    content_redirect_ttl_seconds: int = Field(default=300, ge=1, le=7 * 86400)
    s3_public_endpoint_url: str = ""
    """Endpoint written into presigned URLs when clients reach the bucket by another name."""
    api_keys: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)
    """``key=project,key2=project2``. With no key here nor in the database: dev mode."""
    models_file: Path | None = None

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)

    # queue
    lease_seconds: float = Field(default=30.0, gt=0)
    reaper_interval_seconds: float = Field(default=5.0, gt=0)
    max_attempts: int = Field(default=3, ge=1)
    poll_interval_seconds: float = Field(default=0.25, gt=0)
    embedded_worker_nice: int = Field(default=10, ge=0, le=19)
    """CPU priority drop of the embedded worker, so rendering never starves the API."""
    drain_grace_seconds: float = Field(default=30.0, ge=0)
    """On SIGTERM a worker finishes its job within this, else gives it back to the queue."""
    worker_concurrency: int = Field(default=1, ge=1, le=64)
    """Jobs one worker process runs at once (``vidserve worker --concurrency``)."""
    wakeup_poll_seconds: float = Field(default=5.0, gt=0)
    """With LISTEN/NOTIFY (PostgreSQL) a new job wakes workers at once; they also look
    this often in case a notification was missed. Without it they poll every
    ``poll_interval_seconds``."""

    # behaviour
    expires_after_seconds: int | None = Field(default=3600, ge=1)
    """``expires_at = completed_at + this``; empty for never."""
    resize_input_reference: bool = False
    """Resize a reference image of another size instead of the live service's 400."""
    poll_after_ms: int = Field(default=1000, ge=0)
    max_request_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    max_image_pixels: int = Field(default=40_000_000, ge=1)
    extended_video_options: bool = False
    """Also accept ``seconds`` 16 and 20 on create, and 1920x1080 / 1080x1920 on the pro
    models (those that allow the 1792 sizes). OpenAI's later guides list them; the published
    enums do not, so they are off by default."""

    # uploads: edit/extension sources, characters, the Files API
    upload_video_max_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)
    upload_video_max_seconds: float = Field(default=20.0, gt=0)
    """Longest uploaded source clip for an edit or extension."""
    upload_video_max_side: int = Field(default=3840, ge=64)
    """Widest and tallest uploaded video accepted, in pixels."""
    media_child_memory_bytes: int = Field(default=2 * 1024**3, ge=64 * 1024**2)
    """Address-space limit (RLIMIT_AS) of each child process that probes and re-encodes an
    uploaded video: a hostile file costs that child, never the API process."""
    media_child_timeout_seconds: float = Field(default=120.0, gt=0)
    """A child still working after this long is killed and the upload refused."""
    media_child_concurrency: int = Field(default=2, ge=1)
    """How many such children run at once in one API process (the others wait)."""
    character_max_seconds: float = Field(default=10.0, gt=0)
    """Longest clip ``POST /v1/videos/characters`` accepts (at least 1 s)."""
    files_max_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)
    """Largest upload ``POST /v1/files`` accepts (the request limit applies too)."""

    # engines and media
    procedural_caption: Literal["label", "prompt", "none"] = "label"
    """What the procedural engine writes over the start of a clip: a one-line ``label`` of the
    prompt, the wrapped ``prompt``, or ``none``. It is gone before the clip's last frame."""
    x264_preset: Literal[
        "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow"
    ] = "veryfast"
    x264_crf: int = Field(default=23, ge=0, le=51)
    silent_audio_track: bool = True
    """Give the files of a model that makes no sound a silent AAC track (48 kHz stereo), as
    every Sora file has one; off: such files have no audio track."""

    # safety: outbound URLs, limits, webhooks, retention
    image_url_allow_http: bool = False
    """Fetch ``input_reference.image_url`` over plain http too (https only by default)."""
    image_url_allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """If set, the only hosts image URLs may name (comma-separated)."""
    image_url_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    image_url_timeout_seconds: float = Field(default=10.0, gt=0)
    fetch_allow_private_urls: bool = False
    """Let image URLs reach loopback/private addresses. Only for tests and closed networks."""
    rate_limit_requests_per_minute: int = Field(default=0, ge=0)
    """Requests per minute per project on /v1 (0: no limit). Counted per API process."""
    rate_limit_active_jobs: int = Field(default=0, ge=0)
    """Queued + running videos a project may have at once (0: no limit)."""
    idempotency_ttl_seconds: int = Field(default=86400, ge=60)
    webhook_allow_private_urls: bool = False
    """Deliver webhooks to loopback/private addresses (and plain http). Closed networks only."""
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    webhook_max_attempts: int = Field(default=8, ge=1)
    webhook_retry_base_seconds: float = Field(default=5.0, gt=0)
    """Retry n waits base * 6**(n-1), capped at 10 h: 5 s, 30 s, 3 min, 18 min, ..."""
    webhook_poll_interval_seconds: float = Field(default=1.0, gt=0)
    collector_interval_seconds: float = Field(default=60.0, gt=0)
    """How often expired and deleted videos' files are removed."""

    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "json", "text"] = "auto"
    """``json``: one object per line with request_id/video_id; ``auto``: text on a terminal."""

    # people and operators: the web studio, metrics
    studio: bool = True
    """Serve the web studio at ``/``."""
    content_url_secret: str = Field(default="", repr=False)
    """Signs the studio's short-lived content URLs; empty: random per process. Replicas
    behind one load balancer need the same value."""
    content_url_ttl_seconds: int = Field(default=3600, ge=10, le=86400)
    metrics_token: str = Field(default="", repr=False)
    """If set, ``/metrics`` needs ``Authorization: Bearer <this>``."""

    @field_validator("api_keys", mode="before")
    @classmethod
    def _parse_keys(cls, value: object) -> object:
        if isinstance(value, str):
            keys: dict[str, str] = {}
            for item in filter(None, (part.strip() for part in value.split(","))):
                key, sep, project = item.partition("=")
                if not sep or not key.strip() or not project.strip():
                    raise ValueError("VIDSERVE_API_KEYS must look like 'key=project,key2=project2'")
                keys[key.strip()] = project.strip()
            return keys
        return value

    @field_validator("image_url_allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return [h.strip().lower() for h in value.split(",") if h.strip()]
        return value

    @field_validator("expires_after_seconds", mode="before")
    @classmethod
    def _never(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in ("", "never", "none", "0"):
            return None
        return value

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        data = self.data_dir.expanduser().resolve()
        object.__setattr__(self, "data_dir", data)
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite+aiosqlite:///{data / 'vidserve.db'}")
        if not self.storage_url:
            object.__setattr__(self, "storage_url", (data / "assets").as_uri())
        if not self.database_url.startswith(("sqlite", "postgresql")):
            raise ValueError("VIDSERVE_DATABASE_URL must be a sqlite or postgresql URL")
        if not self.storage_url.startswith(("file://", "memory://", "s3://")):
            raise ValueError(
                "VIDSERVE_STORAGE_URL must be file:///path, memory:// or s3://bucket/prefix"
            )
        if self.storage_url.startswith("s3://") and not self.storage_url[5:].split("/")[0]:
            raise ValueError("VIDSERVE_STORAGE_URL s3:// needs a bucket: s3://bucket/prefix")
        if self.content_redirect and not self.storage_url.startswith("s3://"):
            raise ValueError("VIDSERVE_CONTENT_REDIRECT needs an s3:// VIDSERVE_STORAGE_URL")
        if self.models_file is not None and not self.models_file.is_file():
            raise ValueError(f"VIDSERVE_MODELS_FILE {self.models_file} is not a file")
        return self

    @property
    def dev_mode(self) -> bool:
        """True when no key is configured in settings (the database may still hold some)."""
        return not self.api_keys


def load_settings(**overrides: object) -> Settings:
    """Read the environment once; raise ``ConfigurationError`` with a readable message."""
    from pydantic import ValidationError

    from vidserve.errors import ConfigurationError

    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "settings"
            lines.append(f"  VIDSERVE_{loc.upper()}: {err['msg']}")
        raise ConfigurationError("invalid settings:\n" + "\n".join(lines)) from None


def child_environment(settings: Settings) -> dict[str, str]:
    """The environment for a child process (the embedded worker): this one's, plus the
    resolved settings, so the child sees exactly what the parent validated."""
    import os

    env = dict(os.environ)
    for name, value in settings.model_dump(mode="json").items():
        key = f"VIDSERVE_{name.upper()}"
        if value is None:
            env.pop(key, None)
            if name == "expires_after_seconds":
                env[key] = "never"
        elif name == "api_keys":
            env[key] = ",".join(f"{k}={v}" for k, v in value.items())
        elif isinstance(value, list):
            env[key] = ",".join(str(v) for v in value)
        else:
            env[key] = str(value)
    return env
