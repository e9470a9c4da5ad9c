"""What the archive serves besides its pages: for now its search index.

- ``pagefind/``: Pagefind's index of the pages as readers read them: built from a copy
  without soft hyphens (they would split or spoil the indexed words), leaving out the table
  cells' labels (``.cell-label``, repeated in every row).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from pipeline.errors import NewsletterError
from pipeline.i18n import _
from pipeline.typography import without_soft_hyphens


class ArchiveError(NewsletterError):
    """The archive cannot be written as asked."""


def index_search(root: Path) -> None:
    """Pagefind's static index of the pages in archive/pagefind/, from a copy of the pages
    without soft hyphens."""
    output = root / "pagefind"
    shutil.rmtree(output, ignore_errors=True)  # from scratch: no old fragments
    with tempfile.TemporaryDirectory(prefix="pagefind-") as work:
        for page in root.rglob("*.html"):
            relative = page.relative_to(root)
            if relative.parts[0] == "pagefind":
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
