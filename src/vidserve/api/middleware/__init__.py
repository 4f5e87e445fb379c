"""Pure ASGI middleware, one concern per module (outermost first, as ``api/app.py`` stacks
them): :mod:`.request_id`, :mod:`.access_log` (the access log and the HTTP metrics),
:mod:`.errors`, :mod:`.body_limit`. None reads a response body: a route names what it knows in
``scope["state"]`` (the video a create made, see ``api/deps.about_video``) and the router
leaves the matched route in ``scope["route"]``."""
