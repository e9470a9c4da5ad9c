"""What the archive serves besides its pages: the stylesheet and the scripts, the board's
files under ``material/``, and the search index.

- ``style.css`` is ``templates/archive/style.css`` with the notices whose last day had
  passed at the build added to its ``section.notice.expired`` rules, so they stop looking
  urgent without JavaScript too. ``site.js`` does the same in the reader's browser on the
  day after (the issue pages are frozen: they cannot change when a date passes).
- ``material/``: byte copies of [brand]'s logotype and favicon and the welcome package's
  downloads (``Config.material_files``), named as ``Config.material_url`` links them. Like
  every file of the archive they must be raster images, or text files without personal
  data; anything else (a PDF, an SVG, a page with script) is refused, since nothing could
  check it.
- ``pagefind/``: Pagefind's index of the pages as readers read them: built from a copy
  without soft hyphens (they would split or spoil the indexed words), leaving out the table
  cells' labels (``.cell-label``, repeated in every row).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

from pipeline.config import Config, inside
from pipeline.errors import NewsletterError, Problem
from pipeline.i18n import _
from pipeline.privacy import check_private
from pipeline.render.email import material_path
from pipeline.settings import MATERIAL_TEXT
from pipeline.source import raster_format
from pipeline.typography import without_soft_hyphens


class ArchiveError(NewsletterError):
    """The archive cannot be written as asked."""


_UNTIL = re.compile(r'data-until="(\d{4}-\d{2}-\d{2})"')
_EXPIRED_RULE = re.compile(r"^(section\.notice\.expired[^{,]*?)(\s*\{)", re.MULTILINE)


def passed_notices(issues: list[dict[str, Any]], today: date) -> list[str]:
    """The last days (ISO) of the published notices that are over by ``today``."""
    days = {day for item in issues for day in _UNTIL.findall(item.get("content", ""))}
    return sorted(day for day in days if day < today.isoformat())


def stylesheet(config: Config, passed: list[str]) -> str:
    """The archive's style.css: the template's, with ``passed`` notices marked expired."""
    css = (config.templates / "archive" / "style.css").read_text(encoding="utf-8")
    if not passed:
        return css

    def rule(match: re.Match[str]) -> str:
        selector = match.group(1)
        extra = [selector.replace(".notice.expired", f'.notice[data-until="{day}"]')
                 for day in passed]
        return ", ".join([selector, *extra]) + match.group(2)

    return _EXPIRED_RULE.sub(rule, css)


def material_problems(config: Config) -> list[Problem]:
    """Why a brand file or download cannot be published (nothing if all can)."""
    problems = []
    seen: dict[str, str] = {}
    for file in config.material_files().values():
        path = config.templates / file
        name = material_path(file)
        if not inside(config.templates, file) or not path.is_file():
            why = _("not a file in the templates folder")
        elif name in seen and seen[name] != file:
            why = _("has the same name as %(other)s; rename one of them") % {"other": seen[name]}
        elif raster_format(path) is not None:
            why = ""
        elif path.suffix.lower() in MATERIAL_TEXT:
            problems += check_private(path.read_text(encoding="utf-8", errors="replace"),
                                      config, str(path))
            why = ""
        else:
            why = _("not a JPEG, PNG, GIF or WebP image nor a text file (%(kinds)s), so the "
                    "archive cannot check it for personal data") % {
                        "kinds": ", ".join(sorted(MATERIAL_TEXT))}
        seen.setdefault(name, file)
        if why:
            problems.append(Problem(str(path), 1, "privacy", _(
                "%(why)s; the archive would publish it as %(name)s") % {"why": why,
                                                                       "name": name}))
    return problems


def write_material(config: Config, root: Path) -> list[Path]:
    """Replace archive/material/ with byte copies of the brand files and downloads."""
    folder = root / "material"
    shutil.rmtree(folder, ignore_errors=True)
    written = []
    for file in dict.fromkeys(config.material_files().values()):
        target = root / material_path(file)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(config.templates / file, target)
        written.append(target)
    return written


def index_search(root: Path) -> None:
    """Pagefind's static index of the pages in archive/pagefind/, from a copy of the pages
    without soft hyphens."""
    output = root / "pagefind"
    shutil.rmtree(output, ignore_errors=True)  # from scratch: no old fragments
    with tempfile.TemporaryDirectory(prefix="pagefind-") as work:
        for page in root.rglob("*.html"):
            relative = page.relative_to(root)
            if relative.parts[0] in ("pagefind", "material"):
                continue
            copy = Path(work) / relative
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_text(without_soft_hyphens(page.read_text(encoding="utf-8")),
                            encoding="utf-8")
        result = subprocess.run(
            [sys.executable, "-m", "pagefind", "--site", work, "--output-path", str(output),
             "--exclude-selectors", ".cell-label", "--silent"], capture_output=True, text=True)
    if result.returncode != 0:
        raise ArchiveError(_("the search index could not be built: %(error)s") % {
            "error": result.stderr.strip()})
