"""``ThinRoute``: the route class of the ``/v1`` routers.

vidserve's routes read and validate their own input: a body through its resource's wire model
(:func:`vidserve.api.validation.validate`, with the live service's error texts), path ids and
query strings in the service and ``api/validation.py``. FastAPI's part is the document: it
builds the OpenAPI operation from the endpoint's signature, ``response_model`` and
``openapi_extra`` as for any route. Per request, this class (FastAPI's documented
``APIRoute.get_route_handler`` hook) calls the endpoint with the request, its path parameters
and its declared query parameters (strings or None) and sends what it returns; it skips the
dependency solving and the re-validation of the returned model, which cost more than the rest
of a ``GET /v1/videos/{id}`` (``bench/api_throughput.py --profile``).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response


class ThinRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint = self.endpoint
        path = tuple(field.name for field in self.dependant.path_params)
        query = tuple((field.name, field.alias) for field in self.dependant.query_params)
        status = self.status_code or 200

        async def handler(request: Request) -> Response:
            arguments = {name: request.path_params[name] for name in path}
            for name, alias in query:
                arguments[name] = request.query_params.get(alias)
            result = await endpoint(request, **arguments)
            if isinstance(result, Response):
                return result
            if isinstance(result, BaseModel):  # pydantic's own (compiled) JSON encoder
                return Response(result.model_dump_json(), status, media_type="application/json")
            return JSONResponse(result, status_code=status)

        return handler
