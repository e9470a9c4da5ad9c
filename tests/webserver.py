"""The web service under uvicorn, its production server, on 127.0.0.1, and a tiny client."""

from __future__ import annotations

import email
import email.policy
import re
import shutil
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any, cast

import uvicorn

from pipeline.audience.store import Store
from pipeline.config import Config
from pipeline.web.app import create_app

SECRET = b"w" * 48
APPS: dict[str, Any] = {}  # base URL → the app served there, for tests that look inside


@contextmanager
def served(config: Config, store: Store) -> Iterator[str]:
    """The app under uvicorn, its production server, on a free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = create_app(config, store, SECRET)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    APPS[base] = app
    try:
        yield base
    finally:
        APPS.pop(base, None)
        server.should_exit = True
        thread.join(10)


def settle(url: str) -> None:
    """Wait until the app serving ``url`` has sent the mail it queued (it mails after
    answering), so a test can read the outbox."""
    for base, app in list(APPS.items()):
        mailer = getattr(getattr(app.state, "site", None), "mailer", None)
        if url.startswith(base) and mailer is not None:
            mailer.wait()


def request(url: str, data: dict[str, str] | list[tuple[str, str]] | bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    """(status, lower-cased headers, body) for a GET, or a POST of a form or raw bytes; returns
    once the mail the request queued is sent."""
    try:
        return _request(url, data, headers)
    finally:
        settle(url)


def _request(url: str, data: dict[str, str] | list[tuple[str, str]] | bytes | None,
             headers: dict[str, str] | None) -> tuple[int, dict[str, str], str]:
    body = data if isinstance(data, bytes) or data is None else \
        urllib.parse.urlencode(data).encode()
    ask = urllib.request.Request(url, data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(ask, timeout=30) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read().decode()


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None, "no CSRF token on the page"
    return found.group(1)


def local(config: Config, root: Path) -> Config:
    """The config with its root in ``root`` (templates copied), so mail lands in root/outbox."""
    shutil.copytree(config.templates, root / "templates")
    return config.model_copy(update={"root": root})


def outbox_mails(outbox: Path) -> list[EmailMessage]:
    return [cast(EmailMessage, email.message_from_bytes(p.read_bytes(),
                                                        policy=email.policy.default))
            for p in sorted(outbox.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns)]


def text_of(mail: EmailMessage) -> str:
    part = mail.get_body(("plain",))
    assert part is not None
    return cast(str, part.get_content())  # type: ignore[attr-defined]
