"""Archive build speed: 100 generated issues from scratch, then one more issue.

    python bench/archive.py [--issues 100] [--runs 3]

Each issue is a copy of issues/2027-1 renumbered (25 years of four issues). "From scratch"
publishes every issue (render, optimise images, freeze) and builds the archive (pages, feeds,
sitemap, Pagefind's search index); "incremental" publishes one new issue and builds again.
Medians over the runs. Targets: full build < 10 s, incremental < 1 s.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.archive import build_archive, publish_edition  # noqa: E402
from pipeline.config import load_config  # noqa: E402
from pipeline.edition import build_edition  # noqa: E402
from pipeline.issue import load_issue  # noqa: E402
from pipeline.render import Renderer  # noqa: E402


def make_issue(root: Path, index: int) -> Path:
    year, number = 2001 + index // 4, index % 4 + 1
    folder = root / "issues" / f"{year}-{number}"
    shutil.copytree(ROOT / "issues" / "2027-1", folder)
    meta = folder / "issue.yaml"
    text = meta.read_text(encoding="utf-8").replace("number: 1", f"number: {number}")
    text = text.replace("2027-02-16 09:00", f"{year}-{number * 3 - 1:02d}-16 09:00")
    meta.write_text(text.replace("Nytt år, nya möjligheter", f"Nummer {number} år {year}, "
                                 "nya möjligheter"), encoding="utf-8")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--issues", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    full, incremental = [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            shutil.copytree(ROOT / "templates", root / "templates")
            config = load_config(ROOT / "newsletter.toml").model_copy(update={"root": root})
            folders = [make_issue(root, i) for i in range(args.issues + 1)]
            renderer = Renderer(config)
            start = time.perf_counter()
            for folder in folders[:-1]:
                publish_edition(build_edition(load_issue(folder, config), config), config)
            build_archive(config, renderer)
            full.append(time.perf_counter() - start)
            start = time.perf_counter()
            publish_edition(build_edition(load_issue(folders[-1], config), config), config)
            build_archive(config, renderer)
            incremental.append(time.perf_counter() - start)
            pages = len(list((root / "archive").rglob("*.html")))
    print(f"{args.issues} issues, {pages} pages, {args.runs} runs (medians)")
    print(f"full build from scratch:   {statistics.median(full):6.2f} s   target < 10 s")
    print(f"one new issue, rebuild:    {statistics.median(incremental):6.2f} s   target < 1 s")


if __name__ == "__main__":
    main()
