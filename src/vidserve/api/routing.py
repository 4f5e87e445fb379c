"""``ThinRoute``: the route class of every router (the ``/v1`` resources, ops, the studio).

vidserve's routes read and validate their own input: a body through its resource's wire model
(:func:`vidserve.api.validation.validate`, with the live service's error texts), path ids and
query strings in the service and ``api/validation.py``. FastAPI's part is the document: it
builds the OpenAPI operation from the endpoint's signature, ``response_model`` and
``openapi_extra`` as for any route. Per request, this class (FastAPI's documented
``APIRoute.get_route_handler`` hook) calls the endpoint with the request, its path parameters
and its declared query parameters (strings or None) and sends what it returns; it skips the
dependency solving and the re-validation of the returned model, which cost more than the rest
of a ``GET /v1/videos/{id}`` (``bench/api_throughput.py --profile``).

The route's ASGI app is that handler and nothing else: FastAPI wraps each route in two
``AsyncExitStack`` s (for dependencies with ``yield``, which these routes do not solve) and a
second round of Starlette's exception handling (``wrap_app_handling_exceptions``); an error
raised here goes to :class:`vidserve.api.middleware.errors.ErrorMiddleware`, the one place
errors become responses. Matching and dispatch are Starlette's ``Route`` s (FastAPI's look up
the context of an included router first; these routes are served flat, ``api/app.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send


class ThinRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        if self.max_body_size is not None:  # api/middleware/body_limit.py is the one limit
            raise ValueError("ThinRoute does not take max_body_size")
        handler = self.get_route_handler()

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            response = await handler(Request(scope, receive, send))
            await response(scope, receive, send)

        self.app = app

    # Starlette's matching and handling: FastAPI's overrides first look for the context of an
    # included router, and these routes are served flat (``api/app.py``); Starlette's router
    # leaves the matched route in ``scope["route"]`` (the access log's route template)
    matches = Route.matches
    handle = Route.handle

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint = self.endpoint
        dependant = self.dependant
        if dependant.dependencies or dependant.header_params or dependant.cookie_params:
            raise ValueError(f"{self.path}: a ThinRoute endpoint reads its own headers")
        named = dependant.request_param_name  # the endpoint's Request parameter, if it has one
        path = tuple(field.name for field in dependant.path_params)
        query = tuple((field.name, field.alias) for field in dependant.query_params)
        status = self.status_code or 200

        async def handler(request: Request) -> Response:
            arguments: dict[str, Any] = {name: request.path_params[name] for name in path}
            for name, alias in query:
                arguments[name] = request.query_params.get(alias)
            if named is not None:
                arguments[named] = request
            result = await endpoint(**arguments)
            if isinstance(result, Response):
                return result
            if isinstance(result, BaseModel):  # pydantic's own (compiled) JSON encoder
                return Response(result.model_dump_json(), status, media_type="application/json")
            return JSONResponse(result, status_code=status)

        return handler
