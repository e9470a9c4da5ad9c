"""Preview refresh: from saving a section to the edit showing in Chromium, in milliseconds.

    python bench/preview.py [--edits N] [--variant NAME]

Starts the preview of a copy of the example issue (8 variants) on a free loopback port, opens
a variant page in Debian's chromium (Playwright, never a downloaded browser), then N times
appends a sentence to the leader (a section every variant has) and times until both frames of
the page, desktop and mobile, show it. Prints the median next to the 300 ms target and, as the
peer measured in the same run, the preview before this change (full page and frame reload,
every variant re-rendered), taken from git.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.preview import start_preview  # noqa: E402
from tests.conftest import CHROMIUM_FLAGS, EXAMPLE  # noqa: E402

TARGET_MS = 300
Start = Callable[[Path, Path | None, int], tuple[Any, Any, threading.Event]]


def _project(tmp: Path) -> Path:
    shutil.copy(ROOT / "newsletter.toml", tmp / "newsletter.toml")
    shutil.copytree(ROOT / "templates", tmp / "templates")
    shutil.copytree(EXAMPLE, tmp / "issues" / EXAMPLE.name)
    return tmp / "issues" / EXAMPLE.name


def _old_start() -> Start | None:
    """start_preview as it was before pipeline/preview.py became a package (from git)."""
    found = subprocess.run(["git", "log", "-1", "--format=%H", "--diff-filter=D", "--",
                            "pipeline/preview.py"], cwd=ROOT, capture_output=True, text=True)
    if found.returncode or not found.stdout.strip():
        return None
    source = subprocess.run(["git", "show", f"{found.stdout.strip()}^:pipeline/preview.py"],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout
    module_file = Path(tempfile.mkdtemp()) / "preview_before.py"
    module_file.write_text(source)
    spec = importlib.util.spec_from_file_location("preview_before", module_file)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["preview_before"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    start: Start = module.start_preview
    return start


def _shows(page: Any, marker: str) -> bool:
    frames = page.frames[1:]
    if len(frames) < 2:
        page.wait_for_timeout(1)  # let Playwright take in the frames being attached
        return False
    try:
        return all(f.evaluate("m => !!document.body && document.body.textContent.includes(m)",
                              marker) for f in frames)
    except Exception:  # a frame reloading under us (the old preview): not yet
        return False


def _listening(state: Any) -> bool:
    """The page's event stream waits on the server: an edit now will reach it."""
    return bool(state.changed._waiters)


def measure(start: Start, browser: Any, edits: int, variant: str) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = _project(Path(tmp))
        server, state, stop = start(folder, folder.parent.parent / "newsletter.toml", 0)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"http://127.0.0.1:{server.server_address[1]}/variant/{variant}")
        leader = folder / "01-ledare.md"
        times = []
        try:
            for n in range(edits + 1):  # the first edit warms up and is not counted
                deadline = time.monotonic() + 30
                while not (_listening(state) and _shows(page, f"Mätpunkt {n - 1}." if n else
                                                        "Trevlig")):
                    if time.monotonic() > deadline:
                        raise SystemExit("the page did not settle within 30 s")
                    time.sleep(0.01)
                marker = f"Mätpunkt {n}."
                began = time.perf_counter()
                leader.write_text(leader.read_text() + f"\n{marker}\n")
                while not _shows(page, marker):
                    if time.perf_counter() - began > 30:
                        raise SystemExit(f"the edit did not show within 30 s ({marker})")
                if n:
                    times.append((time.perf_counter() - began) * 1000)
        finally:
            page.close()
            stop.set()
            server.shutdown()
            server.server_close()
    return times


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--edits", type=int, default=9)
    parser.add_argument("--variant", default="connected+halsa-och-vald")
    args = parser.parse_args()
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("Debian's chromium is not installed (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        now = measure(start_preview, browser, args.edits, args.variant)
        old_start = _old_start()
        before = measure(old_start, browser, args.edits, args.variant) if old_start else None
        browser.close()
    print(f"example issue {EXAMPLE.name}, page /variant/{args.variant}, {args.edits} edits "
          "(medians; each edit appends a sentence to 01-ledare.md, in all 8 variants)")
    print(f"edit visible in both frames:     {statistics.median(now):7.1f} ms   "
          f"target < {TARGET_MS} ms   (min {min(now):.0f}, max {max(now):.0f})")
    if before:
        print(f"before (full reload, git):       {statistics.median(before):7.1f} ms   "
              f"(min {min(before):.0f}, max {max(before):.0f}; "
              f"{statistics.median(before) / statistics.median(now):.1f}× slower)")
    else:
        print("before (full reload):            not measured (no git history here)")


if __name__ == "__main__":
    main()
