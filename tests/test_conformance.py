"""mjml-python against the reference MJML (npm mjml on Node): same MJML, same pixels.

Each variant's MJML is compiled by both; headless Debian chromium screenshots both at 600 px and
375 px; fewer than 1 % of pixels may differ. Screenshots land in test-artifacts/conformance/.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from pipeline.config import Config
from pipeline.issue import load_issue
from pipeline.render import render_issue
from tests.conftest import CHROMIUM_FLAGS, EXAMPLE, ROOT, require

ARTIFACTS = ROOT / "test-artifacts" / "conformance"
REFERENCE = ROOT / "node_modules" / "mjml"
MAX_DIFFERENT = 0.01


@pytest.fixture(scope="module")
def pairs(config: Config, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str]]:
    require(shutil.which("node") is not None, "node is not installed")
    require(REFERENCE.is_dir(), "npm mjml is not installed: run `npm ci` in the project folder")
    rendered = render_issue(load_issue(EXAMPLE, config), config)
    work = tmp_path_factory.mktemp("mjml")
    args: list[str] = []
    for key, mail in rendered.variants.items():
        (work / f"{key.name}.mjml").write_text(mail.mjml, encoding="utf-8")
        args += [str(work / f"{key.name}.mjml"), str(work / f"{key.name}.ref.html")]
    subprocess.run(["node", str(ROOT / "tests" / "reference_mjml.cjs"), *args], check=True,
                   cwd=ROOT, timeout=120)
    return {key.name: (mail.html, (work / f"{key.name}.ref.html").read_text(encoding="utf-8"))
            for key, mail in rendered.variants.items()}


def _different(a: Path, b: Path) -> float:
    first, second = Image.open(a).convert("RGB"), Image.open(b).convert("RGB")
    size = (max(first.width, second.width), max(first.height, second.height))
    canvas_a, canvas_b = Image.new("RGB", size, "black"), Image.new("RGB", size, "black")
    canvas_a.paste(first)
    canvas_b.paste(second)
    mask = ImageChops.difference(canvas_a, canvas_b).convert("L").point(lambda v: 255 * (v > 16))
    return mask.histogram()[255] / (size[0] * size[1])


@pytest.mark.browser
@pytest.mark.node
def test_python_and_reference_mjml_render_the_same(pairs, chromium: str) -> None:
    from playwright.sync_api import Route, sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    images = EXAMPLE / "images"

    def route(route: Route) -> None:  # images from the issue folder; nothing leaves the host
        name = route.request.url.rsplit("/", 1)[-1]
        if "/images/" in route.request.url and (images / name).is_file():
            route.fulfill(path=images / name)
        elif route.request.url.startswith(("about:", "data:")):
            route.continue_()
        else:
            route.abort()

    results: dict[str, float] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        try:
            for width in (600, 375):
                page = browser.new_page(viewport={"width": width, "height": 900})
                page.route("**/*", route)
                for name, (ours, reference) in pairs.items():
                    shots = []
                    for label, html in (("python", ours), ("reference", reference)):
                        page.set_content(html, wait_until="load")
                        shot = ARTIFACTS / f"{name}-{width}-{label}.png"
                        page.screenshot(path=shot, full_page=True)
                        shots.append(shot)
                    results[f"{name} @ {width}px"] = _different(*shots)
                page.close()
        finally:
            browser.close()
    worst = max(results, key=results.__getitem__)
    report = "\n".join(f"{k}: {v:.3%}" for k, v in sorted(results.items()))
    (ARTIFACTS / "report.txt").write_text(report + "\n")
    assert results[worst] < MAX_DIFFERENT, f"{worst} differs by {results[worst]:.2%}\n{report}"
    # The measure itself must see a real difference: two variants are not alike.
    focus = next(n for n in pairs if n.startswith("connected+"))
    assert _different(ARTIFACTS / "general-600-python.png",
                      ARTIFACTS / f"{focus}-600-python.png") > MAX_DIFFERENT
