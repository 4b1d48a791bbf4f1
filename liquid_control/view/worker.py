"""The view's own thread: the attention map, the wiring image, the scene and every message's
encoding run here, off the drive's hot loop, in the order they were asked for. A full queue makes
the loop wait (a file must get every message); a job that fails is reported once and skipped."""

from __future__ import annotations

import queue
import sys
import threading
from typing import Callable


class ViewWorker:
    def __init__(self, depth: int = 256):
        self._jobs: queue.Queue = queue.Queue(depth)
        self._failed = False
        self._thread = threading.Thread(target=self._run, name="live-view", daemon=True)
        self._thread.start()

    def submit(self, job: Callable[[], None]) -> None:
        self._jobs.put(job)

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                job()
            except Exception as error:  # the view must never stop the drive
                if not self._failed:
                    self._failed = True
                    print(f"live view: a message was dropped ({type(error).__name__}: {error})", file=sys.stderr)

    def close(self) -> None:
        """Finish the queued jobs, then stop."""
        if self._thread.is_alive():
            self._jobs.put(None)
            self._thread.join()
