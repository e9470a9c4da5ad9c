"""A small recording SendGrid stand-in, for the state Prism lacks. Tests run it behind
``prism proxy``, so every request is still validated against SendGrid's own OpenAPI description.

It hands out batch ids, accepts mail/send (202) and records each personalization with its
batch id, and records cancellations. ``delivered()`` is what would reach inboxes: every
accepted personalization whose batch was not cancelled. ``faults`` scripts answers: a list of
status codes for the next mail/send requests (429, 500…, or 0: hang past the client's timeout,
then accept); ``drop_after_accept`` accepts the
next request and then drops the connection, the lost-answer case.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class StandIn:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.accepted: list[dict[str, Any]] = []   # {"batch": id, "to": email}
        self.cancelled: set[str] = set()
        self.requests = 0
        self.faults: list[int | None] = []
        self.drop_after_accept = 0
        self.bodies: list[dict[str, Any]] = []
        self.suppressed: list[str] = []  # reported as bounces
        self.hang_seconds = 3.0
        self.keep_bodies = False
        handler = type("Handler", (_Handler,), {"standin": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def delivered(self) -> Counter[str]:
        with self.lock:
            return Counter(a["to"] for a in self.accepted if a["batch"] not in self.cancelled)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Handler(BaseHTTPRequestHandler):
    standin: StandIn
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _answer(self, status: int, body: dict[str, Any] | list[Any] | None = None,
                headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        # one request per connection: Prism's proxy then never reuses a socket that a dropped
        # or timed-out request left behind (those showed up as stray 500s on the next request)
        self.send_header("Connection", "close")
        self.close_connection = True
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if "/suppression/" in self.path:
            with self.standin.lock:
                listed = [{"email": e, "created": 1} for e in self.standin.suppressed
                          if self.path.split("/suppression/")[1].startswith("bounces")]
            return self._answer(200, listed)
        return self._answer(404, {"errors": [{"message": "not here"}]})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        standin = self.standin
        if self.path.endswith("/mail/batch"):
            return self._answer(201, {"batch_id": uuid.uuid4().hex})
        if self.path.endswith("/user/scheduled_sends"):
            with standin.lock:
                standin.cancelled.add(body["batch_id"])
            return self._answer(201, {"batch_id": body["batch_id"], "status": body["status"]})
        if self.path.endswith("/mail/send"):
            with standin.lock:
                standin.requests += 1
                fault = standin.faults.pop(0) if standin.faults else None
                drop = standin.drop_after_accept > 0 and fault is None
                if drop:
                    standin.drop_after_accept -= 1
            if fault == 0:  # hang past the client's timeout, then accept (too late to answer)
                time.sleep(standin.hang_seconds)
                fault = None
            if fault == 429:
                return self._answer(429, {"errors": [{"message": "too many requests"}]},
                                    {"Retry-After": "1"})
            if fault:
                return self._answer(fault, {"errors": [{"field": None,
                                                        "message": "server error"}]})
            with standin.lock:
                if standin.keep_bodies:
                    standin.bodies.append(body)
                for personalization in body["personalizations"]:
                    for to in personalization["to"]:
                        standin.accepted.append({"batch": body.get("batch_id"),
                                                 "to": to["email"]})
            if drop:
                self.close_connection = True
                self.connection.close()
                return None
            return self._answer(202, None, {"X-Message-Id": uuid.uuid4().hex})
        return self._answer(404, {"errors": [{"message": "not here"}]})
