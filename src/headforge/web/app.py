"""The FastAPI application: the page, the versioned API, errors as JSON, security headers.

    uvicorn --factory headforge.web.app:create_app     # or: headforge serve

Every error is ``{"error": {"code": ..., "message": ...}}`` with a stable code; every 503 has
a Retry-After. The page is static (``static/``; three.js and MediaPipe's tasks-vision in
``static/vendor/``, built from npm by the set-up script) and runs under a
Content-Security-Policy without inline scripts. The "Mirror me" face tracker's model is the
installed ``face_landmarker.task``, served at ``/lib/face_landmarker.task``. CORS is off unless
``HEADFORGE_CORS_ORIGINS`` lists origins.
"""
from __future__ import annotations

import base64
import hashlib
import logging
import re
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

import headforge
from headforge.detection.landmarks import landmarker_model_path
from headforge.errors import HeadforgeError
from headforge.service.config import Settings
from headforge.service.service import AvatarService
from headforge.web.routes import API, router

log = logging.getLogger("headforge.web")
STATIC = Path(__file__).parent / "static"
EMOTION_SCRIPT = Path(headforge.__file__).parent / "emotion" / "emotion_mlp.js"
# Status codes for the pipeline's input errors; service errors carry their own.
_INPUT_STATUS = {"image_too_large": 413, "unsupported_format": 415}
# 'wasm-unsafe-eval': lets the page compile WebAssembly (MediaPipe's face tracker for "Mirror
# me"); it allows no JavaScript eval. connect-src 'self' also stops tasks-vision's usage metrics
# (a POST to odml.pa.googleapis.com): no request leaves the page's own server.
CSP = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self' blob: data:; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# /docs is FastAPI's Swagger UI page: an inline script and assets from a CDN.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: https://fastapi.tiangolo.com; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
CLIENT_PAGES = ("talkinghead", "vrm")
_UPLOAD_SLACK = 64 * 1024  # multipart framing and form fields around the photo


def create_app(settings: Settings | None = None, service: AvatarService | None = None) -> FastAPI:
    """The app for ``settings`` (default: from the environment). The service (engine, stores)
    starts with the app and stops with it; pass ``service`` to supply one."""
    settings = settings or Settings.from_env()
    service = service or AvatarService(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        service.start()
        try:
            yield
        finally:
            service.close()

    app = FastAPI(
        title="headforge",
        version=headforge.__version__,
        summary="One portrait photo in, a textured, animatable 3D head avatar out.",
        lifespan=lifespan,
    )
    app.state.service = service
    app.include_router(router)
    _add_error_handlers(app, settings.retry_after_s)
    app.middleware("http")(_security_headers)
    app.add_middleware(BodyLimit, limit=settings.max_upload_bytes + _UPLOAD_SLACK)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                           allow_methods=["GET", "POST", "DELETE"], allow_headers=["Content-Type", "X-API-Key"])

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/lib/emotion_mlp.js", include_in_schema=False)
    def emotion_script() -> FileResponse:
        return FileResponse(EMOTION_SCRIPT, media_type="text/javascript")

    @app.get("/clients/{name}", include_in_schema=False)
    def client_page(name: str) -> HTMLResponse:
        """Our avatar in a third-party client (static/clients/NAME.html): TalkingHead, three-vrm."""
        if name not in CLIENT_PAGES:
            raise StarletteHTTPException(404, "no such client page")
        html = (STATIC / "clients" / f"{name}.html").read_text()
        return HTMLResponse(html, headers={"Content-Security-Policy": client_csp(html)})

    @app.get("/lib/face_landmarker.task", include_in_schema=False)
    def face_landmarker_model() -> FileResponse:
        return FileResponse(landmarker_model_path(), media_type="application/octet-stream")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def client_csp(html: str) -> str:
    """The page's CSP, allowing the page's one inline script: its import map (by its hash)."""
    found = re.search(r'<script type="importmap">(.*?)</script>', html, re.S)
    if found is None:
        return CSP
    digest = base64.b64encode(hashlib.sha256(found.group(1).encode()).digest()).decode()
    return CSP.replace("script-src 'self'", f"script-src 'self' 'sha256-{digest}'")


def error_response(status: int, code: str, message: str, retry_after: int | None = None) -> JSONResponse:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def _add_error_handlers(app: FastAPI, retry_after_s: int) -> None:
    @app.exception_handler(HeadforgeError)
    async def headforge_error(request: Request, exc: HeadforgeError) -> JSONResponse:
        status = getattr(exc, "status", None) or _INPUT_STATUS.get(exc.code, 422)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is None and status == 503:
            retry_after = retry_after_s
        return error_response(status, exc.code, str(exc), retry_after)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return error_response(422, "bad_request", f"{where}: {first.get('msg', 'invalid request')}".strip(": "))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal", "something went wrong on our side")


async def _security_headers(request: Request, call_next):
    response = await call_next(request)
    docs = request.url.path.startswith("/docs")
    headers = response.headers
    headers.setdefault("Content-Security-Policy", DOCS_CSP if docs else CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Permissions-Policy", "camera=(self), microphone=(), geolocation=()")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if request.url.path.startswith(API):
        headers.setdefault("Cache-Control", "no-store")
    return response


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes is refused with 413 (Content-Length
    checked first, then the bytes as they arrive; what the app then answers is replaced)."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            return await self._refuse(scope, send)
        received, too_large, refused = 0, False, False

        async def counted_receive():
            nonlocal received, too_large
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                too_large = True
                raise _TooLarge
            return message

        async def guarded_send(message):
            nonlocal refused
            if not too_large:
                return await send(message)
            if not refused:
                refused = True
                await self._refuse(scope, send)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except _TooLarge:
            if not refused:
                await self._refuse(scope, send)

    async def _refuse(self, scope, send) -> None:
        response = error_response(413, "image_too_large", f"the upload is over the {self.limit // 1_000_000} MB limit")
        await response(scope, None, send)


class _TooLarge(Exception):
    pass
