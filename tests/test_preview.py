"""The preview server: variants side by side, reload on change, problems in the page."""

from __future__ import annotations

import contextlib
import http.client
import json
import queue
import re
import shutil
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from pipeline.preview import start_preview
from pipeline.preview.page import PHONE_SUBJECT_CHARS
from tests.conftest import ROOT, visible


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


def test_the_web_version_shows_its_logotype_and_script(preview) -> None:
    base, _state, _folder = preview
    web = _get(f"{base}/web")
    assert 'src="/material/logotyp.png"' in web and 'href="/material/favicon.png"' in web
    assert '<script src="/site.js" defer>' in web
    with urllib.request.urlopen(f"{base}/material/logotyp.png", timeout=10) as image:
        assert image.headers["Content-Type"] == "image/png"
        assert image.read() == (ROOT / "templates" / "brand" / "logotyp.png").read_bytes()
    assert "notice-until" in _get(f"{base}/site.js")
    for name in ("klistermarke.png", "../newsletter.toml"):  # only what the page shows
        with pytest.raises(urllib.error.HTTPError):
            _get(f"{base}/material/{name}")


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
    assert len(message["variants"]) == 9
    assert "En ny mening för prenumeranterna." in visible(_get(f"{base}/email/general"))
    for name in message["variants"]:
        if name != "general":  # the connected variants: the very same render, not redone
            assert _get(f"{base}/email/{name}") == before[name]


def test_the_variants_on_screen_are_rendered_and_published_first(example_copy: Path,
                                                                  tmp_path: Path) -> None:
    """The studio names the variants on the author's screen: they are published in a version
    of their own before the others, which follow in the next one."""
    from pipeline.preview.state import PreviewState

    config = tmp_path / "newsletter.toml"
    shutil.copy(ROOT / "newsletter.toml", config)
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    state = PreviewState(example_copy, config)
    state.refresh()
    published: list[tuple[frozenset[str], dict[str, bool]]] = []
    publish = state._publish

    def record(snapshot: Any, names: frozenset[str]) -> None:
        if snapshot.rendered is not None:
            published.append((names, {key.name: "Ny mening i ledaren." in email.html
                                      for key, email in snapshot.rendered.variants.items()}))
        publish(snapshot, names)

    state._publish = record  # type: ignore[method-assign]
    leader = example_copy / "01-ledare.md"  # every variant has it
    leader.write_text(leader.read_text() + "\nNy mening i ledaren.\n")
    state.refresh([leader], first=["general"])
    (first, shown), (rest, _), (problems, final) = published
    assert first == {"general"} and shown["general"]
    assert not any(new for name, new in shown.items() if name != "general")  # not yet
    assert rest == set(shown) - {"general"} and len(rest) == 8
    assert problems == set() and all(final.values())


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
    assert "general" not in message["changed"] and len(message["changed"]) == 8


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


def test_the_overview_is_an_inbox_with_readable_variant_names(preview) -> None:
    base, _state, _folder = preview
    page = _get(f"{base}/")
    assert "Anslutna aktörer · fokus på hälsa och våld" in page and "Prenumeranter" in page
    subject = "Ett jämställt Västmanland nr 1 2027: konferens och nätverk"
    assert page.count('<span class="from">Länsstyrelsen Västmanland</span>') == 9
    assert f'<span class="subject" title="{subject}">{subject[:PHONE_SUBJECT_CHARS]}…</span>' \
        in page
    assert "Anmäl dig till vårens spridningskonferens" in page
    variant = _get(f"{base}/variant/general")
    assert "<h1>Prenumeranter</h1>" in variant and 'class="inbox"' in variant


def test_problems_show_beside_the_variant_they_concern(preview) -> None:
    base, state, folder = preview
    section = folder / "03-strategin.md"  # audience: general
    version = state.version
    section.write_text(section.read_text() + "\n[Klicka här](https://example.se/mer).\n")
    _wait_for(state, version)
    general = _get(f"{base}/variant/general")
    connected = _get(f"{base}/variant/connected+halsa-och-vald")
    assert "03-strategin.md" in general and "[link-text]" in general
    assert "03-strategin.md" not in connected



def test_each_variant_shows_its_lix_and_an_edit_changes_it(preview) -> None:
    from pipeline.issue import load_issue
    from pipeline.plain import segment_readability

    base, state, folder = preview

    def shown(variant: str) -> float:
        found = re.search(r"<strong>LIX (\d+)</strong>", _get(f"{base}/variant/{variant}"))
        assert found, variant
        return float(found.group(1))

    def computed(segment: str) -> float:
        config = state.snapshot.config
        assert config is not None
        return segment_readability(load_issue(folder, config), config)[segment].lix

    before = shown("general")
    assert before == round(computed("general"))
    assert shown("connected+halsa-och-vald") == round(computed("connected"))
    section = folder / "03-strategin.md"  # audience: general: only its variant changes
    version = state.version
    section.write_text(section.read_text() + "\nJämställdhetsintegreringsarbetets "
                       "utvecklingsmöjligheter förtjänar uppmärksamhet, konstaterade "
                       "samordningsfunktionen.\n")
    _wait_for(state, version)
    assert shown("general") == round(computed("general")) > before


@pytest.fixture
def sending(preview, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "k" * 40)
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", f"sqlite:///{tmp_path / 'register.db'}")
    base, _state, _folder = preview
    page = _get(f"{base}/variant/general")
    token = re.search(r'name="token" value="([^"]+)"', page)
    assert token is not None
    return base, token.group(1), tmp_path / "outbox"


def _post(base: str, fields: dict[str, str], origin: str | None = "same",
          host: str | None = None) -> tuple[int, str]:
    port = int(base.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/x-www-form-urlencoded",
               "Host": host or f"127.0.0.1:{port}"}
    if origin is not None:
        headers["Origin"] = base if origin == "same" else origin
    connection.request("POST", "/test-send", urllib.parse.urlencode(fields), headers)
    response = connection.getresponse()
    try:
        return response.status, response.read().decode()
    finally:
        connection.close()


def test_the_send_test_button_sends_every_variant_to_the_outbox(sending) -> None:
    base, token, outbox = sending
    status, page = _post(base, {"token": token, "variant": "general",
                                "addresses": "anna@example.se, bo@example.se"})
    assert status == 200
    assert "Test copies sent to anna@example.se, bo@example.se:" in page
    lines = re.findall(r"<li>([^<]*: sent to 2 of 2)</li>", page)  # send_test's own lines
    assert "[TEST · UTKAST · Prenumeranter]: sent to 2 of 2" in lines and len(lines) >= 8
    assert len(list(outbox.rglob("*.eml"))) == 2 * len(lines)


@pytest.mark.parametrize("forged", ["no-token", "wrong-token", "other-origin", "no-origin",
                                    "rebound-host"])
def test_the_send_test_button_refuses_cross_site_requests(sending, forged: str) -> None:
    base, token, outbox = sending
    fields = {"token": token, "variant": "general", "addresses": "anna@example.se"}
    origin: str | None = "same"
    host = None
    if forged == "no-token":
        del fields["token"]
    elif forged == "wrong-token":
        fields["token"] = ("y" if token[0] == "x" else "x") + token[1:]  # never the token
    elif forged == "other-origin":
        origin = "https://evil.example"
    elif forged == "no-origin":
        origin = None
    else:  # DNS rebinding: evil.example resolved to 127.0.0.1, its page posts "same-origin"
        host, origin = "evil.example", "http://evil.example"
    status, page = _post(base, fields, origin, host)
    assert status == 403 and "Refused" in page
    assert not outbox.exists() or not list(outbox.rglob("*.eml"))


def test_a_failed_test_send_says_why(sending) -> None:
    base, token, outbox = sending
    status, page = _post(base, {"token": token, "variant": "general",
                                "addresses": "anna@example.se, redaktionen"})
    assert status == 200 and ("No test copies were sent: --test-to: &quot;redaktionen&quot; "
                              "is not an email address") in page
    assert not list(outbox.glob("*.eml"))  # one bad address: nothing sent to the good one
    status, page = _post(base, {"token": token, "variant": "general", "addresses": " "})
    assert "No test copies were sent: write at least one email address" in page


def test_email_frames_run_no_script(preview) -> None:
    base, _state, _folder = preview
    with urllib.request.urlopen(f"{base}/email/general", timeout=10) as response:
        policy = response.headers["Content-Security-Policy"]
    assert "script-src 'none'" in policy and "sandbox allow-same-origin allow-popups" in policy
    page = _get(f"{base}/variant/general")
    sandboxes = re.findall(r'<iframe[^>]* sandbox="([^"]*)"', page)
    assert len(sandboxes) == 2 and all("allow-scripts" not in s for s in sandboxes)


def test_no_page_is_served_to_a_name_rebound_to_loopback(preview) -> None:
    base, _state, _folder = preview
    connection = http.client.HTTPConnection("127.0.0.1", int(base.rsplit(":", 1)[1]), timeout=10)
    connection.request("GET", "/variant/general", headers={"Host": "evil.example"})
    response = connection.getresponse()
    assert response.status == 421 and b"Prenumeranter" not in response.read()
    connection.close()


def test_a_template_edit_rerenders_every_variant_with_relative_paths(
        example_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(ROOT / "newsletter.toml", tmp_path / "newsletter.toml")
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    monkeypatch.chdir(tmp_path)  # as `newsletter preview issues/2027-1` runs: paths relative
    server, _state, stop = start_preview(Path("issues") / example_copy.name, None, port=0)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    events = _Events(base)
    try:
        template = tmp_path / "templates" / "email.mjml.j2"
        template.write_text(template.read_text().replace(
            "</mj-body>", "<mj-section><mj-column><mj-text>Ny mallrad</mj-text></mj-column>"
            "</mj-section></mj-body>", 1))
        message = events.next()
        assert sorted(message["changed"]) == sorted(message["variants"])
        assert all("Ny mallrad" in _get(f"{base}/email/{name}") for name in message["variants"])
    finally:
        events.close()
        stop.set()
        server.shutdown()
        server.server_close()
