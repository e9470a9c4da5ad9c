"""The board's identity and legal links on every service page, from ``[brand]``.

    GET /material/<name>    the logotype or the favicon, served by the service itself

The service serves the two brand files from the project folder under the same names the
archive publishes them (``<archive_url>/material/<name>``), so its Content-Security-Policy
stays ``default-src 'self'`` (no other origin may load anything into its pages) and the
header does not depend on the archive being deployed. Only the configured files answer; any
other name is a 404. ``BrandView`` is what the templates read: the logotype with its alt text
and size, the favicon, the board's site, the privacy notice (GDPR art. 13), the archive and its
accessibility statement. Whatever ``[brand]`` leaves out is None, and the pages leave out its
link or image rather than show an empty one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

from pipeline.config import Config
from pipeline.source import raster_format

MEDIA_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif",
               "WEBP": "image/webp", ".txt": "text/plain; charset=utf-8",
               ".csv": "text/csv; charset=utf-8", ".md": "text/markdown; charset=utf-8"}


@dataclass(frozen=True)
class Logo:
    src: str
    alt: str
    width: int
    height: int


@dataclass(frozen=True)
class BrandView:
    logo: Logo | None
    favicon: str | None
    home_url: str | None
    privacy_url: str | None
    archive_url: str
    statement_url: str  # the accessibility statement (tillgänglighetsredogörelse)


def href(file: str) -> str:
    """Where the service serves a brand file or download: ``/material/<name>``."""
    return f"/material/{Path(file).name}"


def brand_files(config: Config) -> dict[str, tuple[Path, str]]:
    """The files the service serves under /material/ (the logotype and favicon its pages and
    letters show, the downloads the join page and the welcome mail link): name → (path,
    media type)."""
    return {name: (path, MEDIA_TYPES.get(raster_format(path) or path.suffix.lower(),
                                         "application/octet-stream"))
            for name, path in config.material_paths().items()}


def brand_view(config: Config) -> BrandView:
    brand = config.brand
    logo = None
    if brand.logo:
        with Image.open(config.templates / brand.logo) as image:
            width, height = image.size
        logo = Logo(href(brand.logo), brand.logo_alt, brand.logo_width,
                    round(brand.logo_width * height / width))
    return BrandView(logo, href(brand.favicon) if brand.favicon else None,
                     brand.home_url, brand.privacy_url, f"{config.archive_url}/",
                     f"{config.archive_url}/tillganglighet/")


def routes(config: Config) -> list[Route]:
    files = brand_files(config)

    async def material(request: Request) -> Response:
        found = files.get(request.path_params["name"])
        if found is None:
            return PlainTextResponse("Not Found", status_code=404)
        return FileResponse(found[0], media_type=found[1])

    return [Route("/material/{name}", material, methods=["GET"])]
