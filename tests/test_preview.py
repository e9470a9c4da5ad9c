"""The preview server: variants side by side, reload on change, problems in the page."""

from __future__ import annotations

import contextlib
import http.client
import json
import queue
import shutil
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

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
    state.settle()  # and check's problems are in


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


class _Events:
    """A page's /events stream, read in a thread: each event's JSON data, in order."""

    def __init__(self, base: str, since: int | None = None) -> None:
        port = int(base.rsplit(":", 1)[1])
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.connection.request("GET", "/events" + ("" if since is None else f"?since={since}"))
        self.response = self.connection.getresponse()
        assert self.response.readline() == b"retry: 500\n"
        assert self.response.readline() == b": ready\n"  # subscribed: edits from now count
        self.queue: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            for raw in self.response:
                line = raw.decode().rstrip("\n")
                if line.startswith("data: "):
                    self.queue.put(json.loads(line.removeprefix("data: ")))

    def next(self, timeout: float = 20) -> dict[str, Any]:
        return self.queue.get(timeout=timeout)

    def close(self) -> None:
        self.connection.close()


def test_editing_a_section_rerenders_only_its_variants(preview) -> None:
    base, state, folder = preview
    before = {name: _get(f"{base}/email/{name}") for name in state.snapshot.names}
    events = _Events(base)
    try:
        section = folder / "03-strategin.md"  # audience: general
        section.write_text(section.read_text() + "\nEn ny mening för prenumeranterna.\n")
        message = events.next()
    finally:
        events.close()
    assert message["changed"] == ["general"] and not message["failed"]
    assert len(message["variants"]) == 8
    assert "En ny mening för prenumeranterna." in _get(f"{base}/email/general")
    for name in message["variants"]:
        if name != "general":  # the connected variants: the very same render, not redone
            assert _get(f"{base}/email/{name}") == before[name]


def test_a_page_that_missed_events_catches_up(preview) -> None:
    base, state, folder = preview
    version = state.version
    section = folder / "04-valkomstpaket.md"  # audience: connected
    section.write_text(section.read_text() + "\nNytt i välkomstpaketet.\n")
    _wait_for(state, version)
    events = _Events(base, since=version)  # the page was loaded before the edit
    try:
        message = events.next()
    finally:
        events.close()
    assert "general" not in message["changed"] and len(message["changed"]) == 7


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


BREAKAGES = {
    # A template that fails while it runs (not a syntax error): the watcher must survive it.
    "template-runtime": ("templates", "email.mjml.j2", "</mj-body>",
                         "{{ issue.title + 1 }}</mj-body>", "email.mjml.j2"),
    "template-syntax": ("templates", "email.mjml.j2", "</mj-body>", "{% if %}</mj-body>",
                        "email.mjml.j2"),
    "yaml": ("issue", "issue.yaml", "title:", "title: [", "issue.yaml"),
    "image": ("issue", "06-halsa-och-vald.md", "focus: [halsa, vald]",
              "focus: [halsa, vald]\nimage:\n  src: images/natverk.svg\n  alt: Ett nätverk",
              "06-halsa-och-vald.md"),
}


@pytest.mark.parametrize("name", list(BREAKAGES))
def test_a_problem_that_stops_rendering_replaces_the_stale_render(preview, name: str) -> None:
    base, state, folder = preview
    where, file, old, new, named = BREAKAGES[name]
    path = (folder.parent.parent / "templates" if where == "templates" else folder) / file
    original = path.read_text()
    svg = folder / "images" / "natverk.svg"  # a format mail programs do not show
    if name == "image":
        svg.write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    assert "<iframe" in _get(f"{base}/variant/general")
    version = state.version
    path.write_text(original.replace(old, new, 1))
    _wait_for(state, version)
    page = _get(f"{base}/variant/general")
    assert named in page and "<iframe" not in page  # the problem, not the old email
    assert named in _get(f"{base}/")
    version = state.version
    path.write_text(original)
    svg.unlink(missing_ok=True)
    _wait_for(state, version)
    assert "<iframe" in _get(f"{base}/variant/general")
