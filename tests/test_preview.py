"""The preview server: variants side by side, reload on change, problems in the page."""

from __future__ import annotations

import shutil
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from pipeline.preview import start_preview
from tests.conftest import ROOT


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:  # loopback only
        return response.read().decode()


@pytest.fixture
def preview(example_copy: Path, tmp_path: Path):
    config = tmp_path / "newsletter.toml"
    shutil.copy(ROOT / "newsletter.toml", config)
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    server, state, stop = start_preview(example_copy, config, port=0)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    yield base, state, example_copy
    stop.set()
    server.shutdown()
    server.server_close()


def _wait_for(state, version: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while state.version <= version and time.monotonic() < deadline:
        time.sleep(0.05)
    assert state.version > version, "no re-render after the file changed"


def test_variant_page_shows_desktop_mobile_and_text(preview) -> None:
    base, _state, _folder = preview
    index = _get(f"{base}/")
    assert "/variant/general" in index and "/variant/connected+halsa-och-vald" in index
    page = _get(f"{base}/variant/general")
    assert 'width="640"' in page and 'width="375"' in page and "Textdel" in page
    assert "Hej Förnamn!" in page  # text part filled for a sample reader
    email = _get(f"{base}/email/general")
    assert "/nummer/images/natverk.jpg" in email and "{{" not in email
    with urllib.request.urlopen(f"{base}/nummer/images/natverk.jpg", timeout=10) as image:
        assert image.headers["Content-Type"] == "image/jpeg"
    with pytest.raises(urllib.error.HTTPError):
        _get(f"{base}/nummer/../../newsletter.toml")


def test_editing_a_section_rerenders_and_signals_reload(preview) -> None:
    base, state, folder = preview
    version = state.version
    events: list[str] = []
    listener = threading.Thread(target=lambda: events.append(_get(f"{base}/events")))
    listener.start()
    time.sleep(0.3)
    section = folder / "01-ledare.md"
    section.write_text(section.read_text().replace("Trevlig läsning!", "Ny text här."))
    _wait_for(state, version)
    listener.join(timeout=20)
    assert events == ["data: reload\n\n"]
    assert "Ny text här." in _get(f"{base}/email/general")


def test_problems_show_in_the_page_and_the_server_keeps_running(preview) -> None:
    base, state, folder = preview
    version = state.version
    meta = folder / "issue.yaml"
    meta.write_text(meta.read_text().replace("title:", "titel:"))
    _wait_for(state, version)
    page = _get(f"{base}/")
    assert "titel: unknown key; did you mean &#x27;title&#x27;?" in page
    meta.write_text(meta.read_text().replace("titel:", "title:"))
    _wait_for(state, state.version)
    assert "/variant/general" in _get(f"{base}/")
