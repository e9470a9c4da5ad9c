"""Mail from the web service goes out after the answer, from one worker thread.

The answer to a subscribe or join request is then as quick whether or not a mail is due (an
address already subscribed gets none), so its timing does not tell who is a reader, and a slow
provider never holds a request. The queue is bounded; when it is full a request's mail is
dropped and logged (the reader can ask again), rather than stalling the server. Mail still
queued when the service stops is waited for a few seconds, then lost.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass

from pipeline.config import Config
from pipeline.deliver import notify
from pipeline.render.letters import Letter

MAX_QUEUED = 1000
log = logging.getLogger("newsletter.web")


@dataclass(frozen=True)
class Notice:
    addresses: list[str]
    letter: Letter


class Mailer:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.queue: queue.Queue[Notice | None] = queue.Queue(MAX_QUEUED)
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()

    def send(self, addresses: list[str], letter: Letter) -> None:
        """Queue a letter; it is rendered and sent after the answer."""
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._work, name="web-mailer",
                                               daemon=True)
                self.thread.start()
        try:
            self.queue.put_nowait(Notice(addresses, letter))
        except queue.Full:
            log.error("mail queue full: a notice was dropped")

    def _work(self) -> None:
        while True:
            notice = self.queue.get()
            try:
                if notice is None:
                    return
                notify.send_letter(self.config, notice.addresses, notice.letter)
            except Exception:  # a failed notice must not stop the ones after it
                log.exception("a notice could not be sent")
            finally:
                self.queue.task_done()

    def wait(self) -> None:
        """Return once every queued notice is sent (tests; shutdown)."""
        self.queue.join()

    def close(self, timeout: float = 10.0) -> None:
        with self.lock:
            thread, self.thread = self.thread, None
        if thread is not None:
            self.queue.put(None)
            thread.join(timeout)
