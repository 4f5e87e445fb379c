"""What the middlewares read from a request's ASGI scope after the app has answered."""

from __future__ import annotations

from starlette.routing import Mount
from starlette.types import Scope

from vidserve import ids


def route_template(scope: Scope) -> str:
    """The matched route's path template, e.g. ``/v1/videos/{video_id}``; ``unmatched``.

    The router leaves the route it matched in ``scope["route"]``; a mount (the studio's files)
    is its prefix plus ``/{path}``.
    """
    route = scope.get("route")
    if route is None:
        return "unmatched"
    if isinstance(route, Mount):
        return f"{route.path}/{{path}}"
    path = getattr(route, "path", None)
    return path or "/" if isinstance(path, str) else "unmatched"


def video_of(scope: Scope) -> str | None:
    """The video a request is about: the one its route named (a create names the new video),
    else a well-formed ``{video_id}`` of its path."""
    named = scope.get("state", {}).get("video_id")
    if isinstance(named, str):
        return named
    in_path = scope.get("path_params", {}).get("video_id")
    return in_path if isinstance(in_path, str) and ids.is_video_id(in_path) else None
