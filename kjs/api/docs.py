"""The API docs pages (`/schema`: Redoc, `/schema/swagger`: Swagger UI) from bundled assets.

Litestar's own render plugins load Redoc, Swagger UI, fonts and a favicon from CDNs, so an
air-gapped cluster got a blank page. These pages load only the copies in `docs_assets/` (see its
`SOURCES` for where they come from and how to update them), start the viewer from a served
script rather than inline code, and are sent with a Content-Security-Policy that keeps them on
the server's own origin. The other CDN viewers Litestar offers (RapiDoc, Stoplight Elements) are
not served.
"""

from __future__ import annotations

import functools
import html
from pathlib import Path
from typing import Any

from litestar import Request, Response, Router, get
from litestar.datastructures import ResponseHeader
from litestar.exceptions import NotFoundException
from litestar.openapi.plugins import (
    JsonRenderPlugin,
    OpenAPIRenderPlugin,
    YamlRenderPlugin,
)
from litestar.params import FromPath

ASSETS_DIR = Path(__file__).with_name("docs_assets")
ASSET_ROUTE_NAME = "kjs-docs-asset"

CONTENT_SECURITY_POLICY = "; ".join(
    [
        # Scripts, styles, the schema's fetch: from this server only.
        "default-src 'self'",
        # Redoc's styled-components insert <style> elements at run time; without them it renders
        # unstyled. (Swagger UI would do without. Redoc's `nonce` option is no way out: its
        # bundle inserts two <style> elements while loading, before the option is read.)
        "style-src 'self' 'unsafe-inline'",
        # Swagger UI's stylesheet draws its icons as `data:` images; the pages' empty favicon.
        "img-src 'self' data:",
        # Redoc builds the Web Worker of its search index from a `blob:` URL.
        "worker-src blob:",
    ]
)

_MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
# What the pages load: the vendored viewers and our scripts that start them. Nothing else in
# the folder (licences, SOURCES) is served.
SERVED_ASSETS = frozenset(
    {
        "redoc.standalone.js",
        "redoc-init.js",
        "swagger-ui-bundle.js",
        "swagger-ui.css",
        "swagger-init.js",
    }
)


@functools.cache
def _read_asset(name: str) -> bytes:
    return (ASSETS_DIR / name).read_bytes()


@get(
    "/assets/{file:str}",
    name=ASSET_ROUTE_NAME,
    sync_to_thread=False,
    include_in_schema=False,
)
def docs_asset(file: FromPath[str]) -> Response[bytes]:
    """One bundled file of the docs pages (404 for any name not in `SERVED_ASSETS`)."""
    if file not in SERVED_ASSETS:
        raise NotFoundException(f"no docs asset named {file!r}")
    media_type = _MEDIA_TYPES[Path(file).suffix]
    # Assets change only with an upgrade of kjs: an hour's caching, then the browser asks again.
    return Response(
        _read_asset(file), media_type=media_type, headers={"Cache-Control": "max-age=3600"}
    )


class _OfflinePage(OpenAPIRenderPlugin):
    """A docs page that loads its viewer from `docs_asset` and is told the schema's URL through
    `data-spec-url` on its start-up script."""

    stylesheets: tuple[str, ...] = ()
    viewer_script: str
    init_script: str
    container: str

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        def asset_url(name: str) -> str:
            return html.escape(request.app.route_reverse(ASSET_ROUTE_NAME, file=name))

        title = html.escape(str(openapi_schema.get("info", {}).get("title", "API")))
        spec_url = html.escape(self.get_openapi_json_route(request))
        links = "".join(
            f'<link rel="stylesheet" href="{asset_url(name)}">' for name in self.stylesheets
        )
        page = (
            "<!DOCTYPE html>\n"
            '<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            # No favicon: the browser would ask for /favicon.ico, which this server has not.
            '<link rel="icon" href="data:,">'
            f"<title>{title}</title>{links}</head>"
            f"<body>{self.container}"
            f'<script src="{asset_url(self.viewer_script)}"></script>'
            f'<script src="{asset_url(self.init_script)}" data-spec-url="{spec_url}"></script>'
            "</body></html>\n"
        )
        return page.encode()


class RedocPage(_OfflinePage):
    """`/schema` and `/schema/redoc`."""

    viewer_script = "redoc.standalone.js"
    init_script = "redoc-init.js"
    container = '<div id="redoc-container"></div>'

    def __init__(self) -> None:
        super().__init__(path=["/", "/redoc"])


class SwaggerPage(_OfflinePage):
    """`/schema/swagger`."""

    stylesheets = ("swagger-ui.css",)
    viewer_script = "swagger-ui-bundle.js"
    init_script = "swagger-init.js"
    container = '<div id="swagger-ui"></div>'

    def __init__(self) -> None:
        super().__init__(path="/swagger")


def render_plugins() -> list[OpenAPIRenderPlugin]:
    """The pages and files under the schema path: the two offline viewers and the schema itself
    (`openapi.json`, `openapi.yaml`/`.yml`). New instances for each app."""
    return [RedocPage(), SwaggerPage(), JsonRenderPlugin(), YamlRenderPlugin()]


def openapi_router(path: str) -> Router:
    """The router Litestar adds the docs pages to: the bundled assets, and the CSP header on
    every response under `path` (the pages, the assets and the schema alike)."""
    return Router(
        path,
        route_handlers=[docs_asset],
        response_headers=[
            ResponseHeader(name="Content-Security-Policy", value=CONTENT_SECURITY_POLICY)
        ],
        include_in_schema=False,
        dto=None,
        return_dto=None,
    )
