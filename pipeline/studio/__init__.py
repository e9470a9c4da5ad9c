"""``newsletter studio`` ("Redaktionen"): a local web studio where communicators write, check,
preview, test, approve and save versions of an issue without a terminal, YAML or git.

It keeps the files-in-git design: the studio writes exactly the files ``check`` reads, in the
communicator's clone, and versions are git commits. ``app.py`` says who may use it,
``views.py`` what it answers, ``editing.py``/``files.py`` how forms become files,
``pages.py`` what pages show, ``actions.py`` test copies, approval and versions.
"""

from __future__ import annotations

import os
from pathlib import Path

from pipeline.errors import NewsletterError


def serve_studio(config_file: Path, host: str = "127.0.0.1", port: int = 0,
                 open_browser: bool = True, say: object = print) -> None:
    """Serve until Ctrl+C; print (and open) the launch URL with its secret."""
    import socket
    import threading
    import webbrowser

    import uvicorn

    from pipeline.config import load_config
    from pipeline.i18n import use_language
    from pipeline.studio.app import Access, make_app

    use_language("sv")  # the studio speaks Swedish: its pages, check's problems, its errors
    password = os.environ.get("NEWSLETTER_STUDIO_PASSWORD") or None
    if host not in ("127.0.0.1", "localhost") and not password:
        raise NewsletterError("Redaktionen svarar andra datorer bara med ett lösenord: sätt "
                              "NEWSLETTER_STUDIO_PASSWORD i miljön, eller ta bort --host.")
    config = load_config(config_file)
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(128)  # connections wait in the queue until uvicorn serves them
    access = Access(port=listener.getsockname()[1], host=host,
                    password=password if host not in ("127.0.0.1", "localhost") else None)
    app = make_app(config.root, Path(config_file).resolve(), access)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False,
                                           timeout_graceful_shutdown=1))
    say(f"Redaktionen är öppen på {access.url()}")  # type: ignore[operator]
    say("Länken innehåller en engångsnyckel: dela den inte. Ctrl+C stänger.")  # type: ignore[operator]
    if open_browser:
        threading.Timer(0.5, webbrowser.open, [access.url()]).start()
    server.run(sockets=[listener])
