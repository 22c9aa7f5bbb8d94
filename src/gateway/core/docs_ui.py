"""The OpenAPI docs UI, served from files installed with a Python package.

Litestar's render plugins load their scripts from a CDN (Scalar's pinned to
`@latest`): a blank page offline and code that no one reviewed running beside
a page that holds an API key. Swagger UI's dist files come with `swagger-ui-py`
(Swagger UI 5, which reads OpenAPI 3.1) and are served under /schema/assets.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.router import Router
from litestar.static_files import create_static_files_router

DOCS_PATH = "/schema"
DOCS_ASSETS_PATH = f"{DOCS_PATH}/assets"
# The files the page loads; each is checked to exist at start-up.
_JS, _PRESET, _CSS, _ICON = (
    "swagger-ui-bundle.js",
    "swagger-ui-standalone-preset.js",
    "swagger-ui.css",
    "favicon-32x32.png",
)


def swagger_ui_assets() -> Path:
    """The folder of Swagger UI's dist files. Found without importing the package,
    whose `__init__` pulls in the web frameworks it adapts to."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("swagger-ui-py is not installed")
    folder = Path(next(iter(spec.submodule_search_locations))) / "static"
    missing = [name for name in (_JS, _PRESET, _CSS, _ICON) if not (folder / name).is_file()]
    if missing:
        raise RuntimeError(f"swagger-ui-py lacks {', '.join(missing)} in {folder}")
    return folder


def docs_render_plugin() -> SwaggerRenderPlugin:
    """Swagger UI at /schema (and /schema/swagger), every asset a local URL."""
    return SwaggerRenderPlugin(
        js_url=f"{DOCS_ASSETS_PATH}/{_JS}",
        css_url=f"{DOCS_ASSETS_PATH}/{_CSS}",
        standalone_preset_js_url=f"{DOCS_ASSETS_PATH}/{_PRESET}",
        favicon=f"<link rel='icon' type='image/png' href='{DOCS_ASSETS_PATH}/{_ICON}'>",
        path=["/", "/swagger"],
    )


def docs_assets_router() -> Router:
    return create_static_files_router(
        path=DOCS_ASSETS_PATH,
        directories=[swagger_ui_assets()],
        include_in_schema=False,
        name="docs_assets",
    )
