"""``vidserve``: serve | worker | migrate | keys | webhooks | models | generate | status.

The server commands (serve, worker, migrate, keys, webhooks, models) log at
``VIDSERVE_LOG_LEVEL``. The client commands (generate, status) print their own output only:
their logs (httpx's request lines among them) stay at warning unless ``--verbose``.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import os
import sys
import time
from pathlib import Path

from vidserve import contract
from vidserve.errors import ConfigurationError
from vidserve.settings import Settings, load_settings

log = logging.getLogger("vidserve")


CLIENT_COMMANDS = ("generate", "status")


def _setup_logging(settings: Settings, args: argparse.Namespace) -> None:
    from vidserve.logging import setup_logging

    level: str = settings.log_level
    if args.command in CLIENT_COMMANDS:
        quiet = "error" if level == "error" else "warning"
        level = ("debug" if level == "debug" else "info") if args.verbose else quiet
    setup_logging(level, settings.log_format, sys.stderr)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _count_db_keys(settings: Settings) -> int:
    from vidserve.store.database import Database
    from vidserve.store.keys import KeyStore

    async def count() -> int:
        db = Database(settings.database_url)
        try:
            return await KeyStore(db).count_active()
        finally:
            await db.close()

    return asyncio.run(count())


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from vidserve.api.app import create_app
    from vidserve.runtime import load_registry
    from vidserve.store.database import migrate

    host = args.host or settings.host
    port = args.port if args.port is not None else settings.port
    # a malformed models file stops here with one line (main prints the ConfigurationError)
    # instead of a traceback from the server's lifespan; unavailable models are logged
    load_registry(settings)
    migrate(settings.database_url)
    dev = settings.dev_mode and _count_db_keys(settings) == 0
    if dev and not _is_loopback(host):
        print(
            f"vidserve: refusing to listen on {host}: no API key is configured (dev mode accepts "
            "any key). Create one with `vidserve keys create --project NAME` or set "
            "VIDSERVE_API_KEYS, or listen on 127.0.0.1.",
            file=sys.stderr,
        )
        return 2
    if dev:
        log.warning("dev mode: no API key configured; any bearer key is accepted (loopback only)")
    app = create_app(settings, embedded_worker=not args.no_worker)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=settings.log_level,
        access_log=False,  # vidserve.access logs each request with its request id
        log_config=None,  # uvicorn's loggers go through ours (JSON or text)
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    log.info("vidserve listening on http://%s:%d/v1 (data in %s)", host, port, settings.data_dir)
    if settings.studio:
        log.info("web studio at http://%s:%d/", host, port)
    server.run()
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from vidserve.runtime import Runtime
    from vidserve.store.database import migrate
    from vidserve.worker.runner import run_worker

    if args.parent_pid is None:
        migrate(settings.database_url)
    else:  # the embedded worker: the API it shares the machine with comes first
        os.nice(settings.embedded_worker_nice)
    _worker_telemetry(args, settings)

    async def main() -> None:
        rt = Runtime.open(settings)
        try:
            models = [m.strip() for m in (args.models or "").split(",") if m.strip()] or None
            unknown = [m for m in models or [] if rt.registry.get(m) is None]
            if unknown:
                raise ConfigurationError(
                    f"--models: not served here: {', '.join(unknown)} "
                    f"(served: {', '.join(rt.registry.names())})"
                )
            await run_worker(rt, models=models, parent_pid=args.parent_pid,
                             concurrency=args.concurrency)
        finally:
            await rt.close()

    asyncio.run(main())
    return 0


def _worker_telemetry(args: argparse.Namespace, settings: Settings) -> None:
    """Where the worker's metrics go: the embedded worker into the folder the server's
    /metrics reads; a standalone one on its own port (``--metrics-port``)."""
    from vidserve import telemetry

    if args.parent_pid is not None:
        telemetry.enable_multiprocess(telemetry.embedded_metrics_dir(settings.data_dir))
    elif args.metrics_port is not None:
        telemetry.serve_metrics(args.metrics_port, settings.host)


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from vidserve.store.database import migrate

    migrate(settings.database_url, args.revision)
    print(f"database at {args.revision}: {settings.database_url}")
    return 0


def cmd_keys(args: argparse.Namespace, settings: Settings) -> int:
    from vidserve.store.database import Database, migrate
    from vidserve.store.keys import KeyStore

    migrate(settings.database_url)

    async def main() -> int:
        db = Database(settings.database_url)
        keys = KeyStore(db)
        try:
            if args.action == "create":
                key, plaintext = await keys.create(args.project, int(time.time()))
                print(plaintext)
                print(f"created {key.id} for project {key.project}; the key is shown only once",
                      file=sys.stderr)
            elif args.action == "list":
                for k in await keys.list():
                    state = "revoked" if k.revoked_at else "active"
                    print(f"{k.id}\t{k.prefix}...\t{k.project}\t{state}")
            else:
                if not await keys.revoke(args.key_id, int(time.time())):
                    print(f"no active key {args.key_id}", file=sys.stderr)
                    return 1
                print(f"revoked {args.key_id}")
            return 0
        finally:
            await db.close()

    return asyncio.run(main())


def cmd_webhooks(args: argparse.Namespace, settings: Settings) -> int:
    from vidserve.net.fetch import FetchRefused, fetch, vet
    from vidserve.service.webhooks import endpoint_policy
    from vidserve.store.database import Database, migrate
    from vidserve.store.webhooks import WebhookStore

    migrate(settings.database_url)

    async def main() -> int:
        db = Database(settings.database_url)
        store = WebhookStore(db)
        try:
            if args.action == "create":
                policy = endpoint_policy(settings)
                try:  # the same rules as at delivery time, checked now to fail early
                    await vet(args.url, policy)
                    if args.check:
                        await fetch(args.url, policy, method="HEAD")
                except FetchRefused as exc:
                    print(f"vidserve: refusing {args.url}: {exc}", file=sys.stderr)
                    return 1
                endpoint = await store.create_endpoint(args.project, args.url, int(time.time()))
                print(endpoint.secret)
                print(f"created {endpoint.id} for project {endpoint.project} -> {endpoint.url}; "
                      "the secret is shown only once", file=sys.stderr)
            elif args.action == "list":
                for e in await store.endpoints():
                    print(f"{e.id}\t{e.project}\t{e.url}")
            elif not await store.disable(args.endpoint_id, int(time.time())):
                print(f"no active webhook endpoint {args.endpoint_id}", file=sys.stderr)
                return 1
            return 0
        finally:
            await db.close()

    return asyncio.run(main())


def cmd_models(args: argparse.Namespace, settings: Settings) -> int:
    from vidserve.runtime import load_registry

    def yes(flag: bool) -> str:
        return "yes" if flag else "no"

    for served in load_registry(settings).served():
        caps = served.capabilities
        target = "" if served.name == served.spec.name else f" -> {served.spec.name}"
        facts = "".join(f"\t{key}={value}" for key, value in caps.extra.items())
        problem = f"\tUNAVAILABLE: {served.spec.problem}" if served.spec.problem else ""
        print(
            f"{served.name}{target}\tbackend={served.spec.backend}\tsizes={','.join(caps.sizes)}"
            f"\tseconds={','.join(str(s) for s in caps.seconds)}\tfps={caps.fps}"
            f"\ttext_to_video={yes(caps.text_to_video)}"
            f"\timage_reference={yes(caps.image_reference)}\tremix={yes(caps.remix)}"
            f"\tedit={yes(caps.edit)}\textend={yes(caps.extend)}"
            f"\tcharacters={yes(caps.characters)}\taudio={yes(caps.audio)}"
            f"{facts}{problem}"
        )
    return 0


def cmd_generate(args: argparse.Namespace, settings: Settings) -> int:
    from vidserve.client import generate

    if (args.prompt is None) == (args.watch is None):
        print("vidserve generate: give a PROMPT, or --watch VIDEO_ID to follow an existing "
              "video", file=sys.stderr)
        return 2
    return generate(
        base_url=args.base_url or f"http://{settings.host}:{settings.port}/v1",
        api_key=args.api_key,
        prompt=args.prompt,
        seconds=args.seconds,
        size=args.size,
        model=args.model,
        output=Path(args.output) if args.output else None,
        watch=args.watch,
        open_after=args.open,
    )


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from vidserve.status import run

    base = None if args.no_server else (
        args.base_url or f"http://{settings.host}:{settings.port}"
    )
    return run(settings, base, args.json)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vidserve")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the API server (and the embedded worker)")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--no-worker", action="store_true", help="API only (scale-out replicas)")
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="run a worker that generates queued videos")
    worker.add_argument("--models", default=None, help="comma-separated model names to serve")
    worker.add_argument(
        "--concurrency", type=_positive_int, default=None,
        help="jobs run at once by this worker (default VIDSERVE_WORKER_CONCURRENCY, 1)",
    )
    worker.add_argument("--parent-pid", type=int, default=None, help=argparse.SUPPRESS)
    worker.add_argument(
        "--metrics-port", type=int, default=None,
        help="serve this worker's Prometheus metrics on VIDSERVE_HOST:PORT/metrics",
    )
    worker.set_defaults(func=cmd_worker)

    mig = sub.add_parser("migrate", help="create or upgrade the database schema")
    mig.add_argument("revision", nargs="?", default="head")
    mig.set_defaults(func=cmd_migrate)

    keys = sub.add_parser("keys", help="manage API keys")
    ksub = keys.add_subparsers(dest="action", required=True)
    kc = ksub.add_parser("create")
    kc.add_argument("--project", required=True)
    ksub.add_parser("list")
    kr = ksub.add_parser("revoke")
    kr.add_argument("key_id")
    keys.set_defaults(func=cmd_keys)

    hooks = sub.add_parser("webhooks", help="manage webhook endpoints (per project)")
    hsub = hooks.add_subparsers(dest="action", required=True)
    hc = hsub.add_parser("create", help="add an endpoint; prints its whsec_ secret once")
    hc.add_argument("--project", required=True)
    hc.add_argument("--url", required=True)
    hc.add_argument("--check", action="store_true", help="HEAD the URL under the SSRF rules")
    hsub.add_parser("list")
    hd = hsub.add_parser("delete")
    hd.add_argument("endpoint_id")
    hooks.set_defaults(func=cmd_webhooks)

    models = sub.add_parser("models", help="list served models and what each can do")
    models.set_defaults(func=cmd_models)

    gen = sub.add_parser("generate", help="create a video through the HTTP API and save it")
    gen.add_argument("prompt", nargs="?", default=None)
    gen.add_argument("-o", "--output", default=None,
                     help="where to save the MP4 (default: video.mp4, or ID.mp4 with --watch)")
    gen.add_argument("--watch", metavar="VIDEO_ID", default=None,
                     help="follow an existing video instead of creating one, then save it")
    gen.add_argument("--open", action="store_true",
                     help="play the result with the system's default video player")
    gen.add_argument("--seconds", default=contract.DEFAULT_SECONDS)
    gen.add_argument("--size", default=contract.DEFAULT_SIZE)
    gen.add_argument("--model", default=contract.DEFAULT_MODEL)
    gen.add_argument("--base-url", default=None)
    gen.add_argument("--api-key", default="dev")
    gen.set_defaults(func=cmd_generate)
    _verbose_flag(gen)

    status = sub.add_parser("status", help="queue depth by model and status, busy workers, "
                            "and whether the server is ready")
    status.add_argument("--base-url", default=None,
                        help="the server to ask /readyz (default http://VIDSERVE_HOST:PORT)")
    status.add_argument("--no-server", action="store_true", help="only read the database")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=cmd_status)
    _verbose_flag(status)
    # the one-line summary names every command, in the order they are listed below it
    parser.description = (
        "A server for OpenAI's Videos API on open models. Commands: "
        + " | ".join(sub.choices) + "."
    )
    return parser


def _verbose_flag(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "-v", "--verbose", action="store_true",
        help="also show log lines (each HTTP request among them) on stderr",
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigurationError as exc:
        print(f"vidserve: {exc}", file=sys.stderr)
        return 2
    _setup_logging(settings, args)
    try:
        result: int = args.func(args, settings)
    except ConfigurationError as exc:
        print(f"vidserve: {exc}", file=sys.stderr)
        return 2
    return result
