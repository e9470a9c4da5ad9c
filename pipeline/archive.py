"""The public archive: ``publish_edition`` writes an edition's page, ``build_archive`` the rest.

    archive/
      2027/1/index.html  images/  meta.json     the edition's page and images, byte for byte:
                                                the record of what was sent (meta.json names
                                                the edition)
      2027/index.html                           one page per year
      index.html  feed.xml  atom.xml  sitemap.xml  tillganglighet/  style.css  site.js
      sok/  pagefind/                           search: a page, and Pagefind's prebuilt index
      material/                                 the logotype, favicon and downloads ([brand])

Pages use relative links only, so the folder can be served from any base path. Nothing
personal may appear: ``check_private`` fails the build on any address other than the board's,
any unsubscribe or preferences token, template placeholder or tracking parameter.
"""

from __future__ import annotations

import difflib
import fcntl
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pipeline.archive_files import ArchiveError as ArchiveError  # raised by both, caught outside
from pipeline.archive_files import (
    index_search,
    material_problems,
    passed_notices,
    stylesheet,
    write_material,
)
from pipeline.config import Config
from pipeline.edition import Edition
from pipeline.errors import Problem
from pipeline.feeds import atom, rss, sitemap
from pipeline.privacy import check_private
from pipeline.render.email import Renderer, site_context
from pipeline.source import NOT_RASTER, raster_format
from pipeline.typography import Nowrap, swedish_date, typeset

_TEXT_FILES = {".html", ".xml", ".json", ".txt", ".css", ".js", ".csv", ".md", ".svg"}


@dataclass
class Published:
    folder: Path
    status: str                     # "published", "unchanged" or "replaced"
    changes: list[str] = field(default_factory=list)


def archive_root(config: Config) -> Path:
    return config.root / "archive"


def issue_folder(config: Config, edition: Edition) -> Path:
    return archive_root(config) / str(edition.meta["year"]) / str(edition.meta["number"])


def archived_edition(config: Config, edition: Edition) -> tuple[str | None, bool]:
    """(digest of the edition the issue's published page shows, or None; whether it exists)."""
    meta = issue_folder(config, edition) / "meta.json"
    if not meta.is_file():
        return None, (meta.parent / "index.html").is_file()
    return json.loads(meta.read_text(encoding="utf-8")).get("edition"), True


def publish_edition(edition: Edition, config: Config, force: bool = False) -> Published:
    """Write the edition's page and images, byte for byte; refuse to change a published
    page unless ``force`` (it is the record of what was sent)."""
    folder = issue_folder(config, edition)
    page = edition.web_page
    problems = check_private(page, config, str(folder / "index.html"))
    problems += [Problem(str(folder / "images" / name), 1, "privacy", f"{NOT_RASTER}; "
                         "approve the issue again") for name, data in edition.images.items()
                 if raster_format(data) is None]
    if problems:
        raise ArchiveError(f"{edition.issue}: personal data in the page; not published",
                           problems)
    target = folder / "index.html"
    status, changes = "published", []
    if target.exists():
        before = target.read_text(encoding="utf-8")
        changes = [line for line in difflib.unified_diff(
            before.splitlines(), page.splitlines(), "published", "now", lineterm="", n=0)
            if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))]
        changes += [f"~ images/{name}" for name, data in sorted(edition.images.items())
                    if not (folder / "images" / name).is_file()
                    or (folder / "images" / name).read_bytes() != data]
        if not changes:
            if archived_edition(config, edition)[0] != edition.digest:
                _write_meta(folder, edition, page)  # the same page, now of this edition
            return Published(folder, "unchanged")
        if not force:
            raise ArchiveError(f"{edition.issue} is already published and the page would "
                               f"change ({len(changes)} line(s)); the published page is the "
                               "record of what was sent: use --force to replace it")
        status = "replaced"
    folder.mkdir(parents=True, exist_ok=True)
    images = folder / "images"
    if edition.images:
        images.mkdir(exist_ok=True)
    for name, data in edition.images.items():
        _write_atomic(images / name, data)
    _write_atomic(target, page.encode("utf-8"))
    _write_meta(folder, edition, page)
    return Published(folder, status, changes)


def _write_meta(folder: Path, edition: Edition, page: str) -> None:
    article = re.search(r'<article class="issue"[^>]*>(.*?)</article>', page, re.DOTALL)
    assert article is not None, "templates/archive/issue.html.j2 lost its <article>"
    meta = edition.meta
    _write_atomic(folder / "meta.json", (json.dumps({
        "year": meta["year"], "number": meta["number"], "title": meta["title"],
        "label": meta["label"], "date": meta["date"], "summary": meta["summary"],
        "path": f"{meta['year']}/{meta['number']}/", "edition": edition.digest,
        "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "content": article.group(1).strip(),
    }, ensure_ascii=False, indent=2) + "\n").encode("utf-8"))


def _write_atomic(path: Path, data: bytes) -> None:
    """A crash leaves the old file or the new one, never half of it."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def _check_files(root: Path, config: Config, skip: set[Path]) -> list[Problem]:
    """Every file already in archive/ (but the search index, rebuilt from the pages,
    material/, replaced from [brand], and the ``skip``ped ones about to be replaced): images
    must be raster images, anything else a page or feed without personal data."""
    problems = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).parts
        if relative[0] in ("pagefind", "material") or path in skip \
                or any(part.startswith(".") for part in relative):
            continue
        image = relative[-2:-1] == ("images",)
        if path.is_symlink():
            problems.append(Problem(str(path), 1, "privacy", "a symbolic link; remove it"))
        elif not path.is_file():
            continue
        elif image and raster_format(path) is None:
            problems.append(Problem(str(path), 1, "privacy", f"{NOT_RASTER}; remove it"))
        elif not image and path.suffix.lower() in _TEXT_FILES:
            problems += check_private(path.read_text(encoding="utf-8", errors="replace"),
                                      config, str(path))
        elif not image:
            problems.append(Problem(str(path), 1, "privacy", "not a page, feed or image of "
                                    "the archive; remove it"))
    return problems


def published(config: Config) -> list[dict[str, Any]]:
    """Every published issue's metadata, newest first."""
    items = [json.loads(p.read_text(encoding="utf-8"))
             for p in archive_root(config).glob("*/*/meta.json")]
    return sorted(items, key=lambda m: (m["date"], m["year"], m["number"]), reverse=True)


def build_archive(config: Config, renderer: Renderer | None = None,
                  today: date | None = None) -> list[Path]:
    """Regenerate everything around the frozen issue pages; returns the files written.
    ``today`` (Swedish time by default) decides which notices style.css marks as past."""
    root = archive_root(config)
    root.mkdir(parents=True, exist_ok=True)
    with _building(root):
        return _build(config, root, renderer or Renderer(config),
                      today or datetime.now(config.zone).date())


@contextmanager
def _building(root: Path) -> Iterator[None]:
    """One build of archive/ at a time, across threads and processes (a lock on the folder):
    two deliveries publishing in the same minute replaced each other's material/ halfway."""
    folder = os.open(root, os.O_RDONLY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        yield
    finally:
        os.close(folder)  # and the lock with it


def _build(config: Config, root: Path, renderer: Renderer, today: date) -> list[Path]:
    issues = published(config)
    for item in issues:
        item["date_iso"] = item["date"]
        item["date_text"] = swedish_date(date.fromisoformat(item["date"]))
    years: dict[int, list[dict[str, Any]]] = {}
    for item in issues:
        years.setdefault(item["year"], []).append(item)
    groups = [{"year": y, "issues": years[y]} for y in sorted(years, reverse=True)]
    base = config.archive_url + "/"
    pages: dict[Path, str] = {}

    def page(template: str, target: str, rel_root: str, **extra: Any) -> None:
        context = site_context(config, rel_root, base + target.removesuffix("index.html"))
        pages[root / target] = typeset(renderer.html_env.get_template(template).render(
            context | extra), Nowrap.CLASS)

    page("archive/index.html.j2", "index.html", "", years=groups, year=None)
    for group in groups:
        page("archive/index.html.j2", f"{group['year']}/index.html", "../", years=[group],
             year=group["year"])
    page("archive/statement.html.j2", "tillganglighet/index.html", "../")
    page("archive/search.html.j2", "sok/index.html", "../")
    pages[root / "feed.xml"] = rss(config, issues, base)
    pages[root / "atom.xml"] = atom(config, issues, base)
    pages[root / "sitemap.xml"] = sitemap(
        [base, *(base + f"{g['year']}/" for g in groups),
         *(base + i["path"] for i in issues), base + "tillganglighet/"])
    pages[root / "style.css"] = stylesheet(config, passed_notices(issues, today))
    for script, target in (("site.js", "site.js"), ("search.js", "sok/search.js")):
        pages[root / target] = (config.templates / "archive" / script).read_text(
            encoding="utf-8")
    problems = [p for path, text in pages.items()
                for p in check_private(text, config, str(path))]
    problems += material_problems(config)
    problems += _check_files(root, config, set(pages))
    if problems:
        raise ArchiveError("personal data in the archive; nothing was written", problems)
    for path, text in pages.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    material = write_material(config, root)
    index_search(root)
    return [*pages, *material]
