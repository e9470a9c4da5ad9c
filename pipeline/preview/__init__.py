"""``newsletter preview``: the variants in a browser, updated in place as the files change.

A small threaded HTTP server on 127.0.0.1 (server.py). The overview lists the variants as an
inbox does; each variant page shows its inbox row, its problems, the email at desktop (600 px)
and mobile (375 px) width and its text part, and a form that sends test copies (page.py). A
watcher thread re-renders only the variants whose files changed (state.py) and names them in
a server-sent event; the open pages swap just those emails in, keeping their scroll position.
Problems are shown in the page instead of stopping the server, and a render that failed is
never shown stale.
"""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

from pipeline.i18n import _
from pipeline.preview.server import PreviewHandler
from pipeline.preview.state import PreviewState

__all__ = ["PreviewState", "serve_preview", "start_preview"]


def start_preview(issue: Path, config_file: Path | None, port: int = 0
                  ) -> tuple[ThreadingHTTPServer, PreviewState, threading.Event]:
    """Render, start serving and watching; returns the server, its state and a stop event."""
    state = PreviewState(issue, config_file)
    state.refresh()
    handler = type("BoundPreviewHandler", (PreviewHandler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    stop = state.closed
    watching = threading.Event()

    def watch() -> None:
        from watchfiles import watch as watch_files

        # step: how long the folder must be quiet before a change counts (an editor's save is
        # several events); small, since every millisecond here is one the communicator waits.
        for changes in watch_files(*state.watched(), stop_event=stop, debounce=200, step=20,
                                   rust_timeout=200, yield_on_timeout=True):
            watching.set()  # the first (empty) yield: the watcher is in place
            if changes:
                state.refresh(Path(path) for _change, path in changes)

    threading.Thread(target=server.serve_forever, daemon=True).start()
    threading.Thread(target=watch, daemon=True).start()
    watching.wait(timeout=10)  # so no edit made right after start is missed
    return server, state, stop


def serve_preview(issue: Path, config_file: Path | None, port: int) -> None:
    import click

    server, state, stop = start_preview(issue, config_file, port)
    host, bound = server.server_address[:2]
    click.echo(_("Preview of %(issue)s on %(url)s (Ctrl+C stops)") % {
        "issue": issue, "url": f"http://{host!s}:{bound}/"})
    for problem in state.problems:
        click.echo(str(problem))
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
