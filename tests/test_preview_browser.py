"""The live preview in headless Debian chromium: an edit is swapped into both frames in place
(no page reload, the frame keeps its scroll position and its styles, no CSP violation), and a
render that fails replaces the frames with the problem until it is fixed."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.preview import start_preview
from tests.conftest import ROOT, loopback_only

VARIANT = "connected+halsa-och-vald"
IN_BOTH_FRAMES = """marker => {
  const frames = [...document.querySelectorAll('iframe.email')];
  return frames.length === 2 && frames.every(f => f.contentDocument && f.contentDocument.body
    && f.contentDocument.body.textContent.includes(marker));
}"""


@pytest.fixture
def live(example_copy: Path, tmp_path: Path, browser: Any) -> Iterator[tuple[Any, Path, list[str]]]:
    config = tmp_path / "newsletter.toml"
    shutil.copy(ROOT / "newsletter.toml", config)
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    server, _state, stop = start_preview(example_copy, config, port=0)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.route("**/*", loopback_only)
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text)
            if message.type == "error" and "favicon" not in message.text else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"http://127.0.0.1:{server.server_address[1]}/variant/{VARIANT}")
    page.wait_for_function(IN_BOTH_FRAMES, arg="Trevlig läsning!")
    yield page, example_copy, errors
    page.close()
    stop.set()
    server.shutdown()
    server.server_close()


@pytest.mark.browser
def test_an_edit_is_swapped_in_place_keeping_scroll_and_styles(live) -> None:
    page, folder, errors = live
    mobile = "document.querySelectorAll('iframe.email')[1]"
    page.evaluate(f"window.notReloaded = true; {mobile}.contentWindow.scrollTo(0, 700)")
    styled = f"getComputedStyle({mobile}.contentDocument.querySelector('h1, h2')).fontSize"
    font_size = page.evaluate(styled)
    assert page.evaluate(f"{mobile}.contentWindow.scrollY") == 700  # it does scroll
    leader = folder / "01-ledare.md"
    leader.write_text(leader.read_text() + "\nEn mening skriven just nu.\n")
    page.wait_for_function(IN_BOTH_FRAMES, arg="En mening skriven just nu.", timeout=20_000)
    assert page.evaluate("window.notReloaded") is True
    assert page.evaluate(f"{mobile}.contentWindow.scrollY") == 700
    assert page.evaluate(styled) == font_size  # the email's inline styles still apply
    page.wait_for_function("() => document.querySelector('#text').textContent"
                           ".includes('En mening skriven just nu.')")
    assert errors == []


@pytest.mark.browser
def test_a_broken_template_replaces_the_frames_until_it_is_fixed(live, tmp_path: Path) -> None:
    page, _folder, errors = live
    template = tmp_path / "templates" / "email.mjml.j2"
    original = template.read_text()
    template.write_text(original.replace("</mj-body>", "{{ issue.title + 1 }}</mj-body>", 1))
    page.wait_for_function("() => !document.querySelector('iframe') && "
                           "document.body.textContent.includes('email.mjml.j2')",
                           timeout=20_000)
    template.write_text(original)
    page.wait_for_function(IN_BOTH_FRAMES, arg="Trevlig läsning!", timeout=20_000)
    assert errors == []
