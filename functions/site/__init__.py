"""The website's functions: each adapts its Flask request to ttfd.web's neutral one and back, then every
route runs through ttfd.web.serve (sessions, CSRF, rate limits, one transaction, refusals)."""

from __future__ import annotations

from flask import Request, Response

from ttfd.core import wake
from ttfd.core.inputs import MAX_BODY_BYTES
from ttfd.core.settings import get_settings
from ttfd.features.lazy import REGISTRY  # imports only the features this request needs
from ttfd.web import WebRequest, WebResponse, serve, too_large


def handle(function: str, request: Request) -> Response:
    """Serve one site function (by its deployed name) for this request."""
    too_big = (request.content_length or 0) > MAX_BODY_BYTES
    neutral = WebRequest(
        method=request.method,
        path=request.path,
        query={k: request.args.get(k, "") for k in request.args},
        headers={k.lower(): v for k, v in request.headers.items()},
        cookies=dict(request.cookies),
        body=request.get_data(cache=False) if request.method not in ("GET", "HEAD") and not too_big else b"",
        remote_addr=request.remote_addr,
    )
    if too_big:
        return to_flask(too_large(neutral, MAX_BODY_BYTES))
    response = serve(REGISTRY.routes[function], neutral, REGISTRY)
    wake.after_request()  # what a committed write queued (a merge's notices) runs now where the platform can
    return to_flask(response)


def to_flask(resp: WebResponse) -> Response:
    out = Response(resp.body, status=resp.status, content_type=resp.content_type)
    out.headers.update(resp.headers)
    secure = get_settings().site_is_https
    for c in resp.cookies:
        out.set_cookie(c.name, c.value, max_age=c.max_age, path="/", secure=secure, httponly=c.httponly, samesite="Lax")
    return out
