"""Workers that notice when the launcher that started them is gone.

torchrun starts each worker as a child process of its agent and hosts the rendezvous store in
that agent. When the agent is killed without a chance to stop its workers (kill -9, the OOM
killer, a lost node), nothing tells them: they are re-parented and carry on, and a worker that
then reaches a collective waits for a store that no longer exists for as long as its timeout,
holding its memory (on a GPU node, the GPU). `LauncherWatch` notices the loss (the parent
process id changes when the parent dies, which a reused pid cannot fake) from a daemon thread
and lets the work end at its next safe point; a wait inside a collective cannot be interrupted
from Python, so there the process leaves at once (`waiting`), which the callers' kill-safe
writes allow.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable, Iterator

POLL_S = 1.0  # how often the parent is checked: a second of a dead launcher costs nothing
EXIT_LAUNCHER_GONE = 1  # an internal failure in the CLI's error contract, not bad input


def launched_by_torchrun() -> bool:
    """Whether this process is a worker of a torch.distributed launcher (torchrun sets these)."""
    return "TORCHELASTIC_RUN_ID" in os.environ or int(os.environ.get("WORLD_SIZE", "1") or 1) > 1


class LauncherWatch:
    """Watches the parent process from a daemon thread.

    Args:
        label: names the process in the line printed when the launcher goes.
        on_gone: called once from the watch thread when the launcher is gone (e.g. a stop request);
            `gone` is True from then on either way.
    """

    def __init__(self, label: str, on_gone: Callable[[], None] | None = None, poll_s: float = POLL_S):
        self.label, self._on_gone, self._poll_s = label, on_gone, poll_s
        self.parent = os.getppid()
        self._gone = threading.Event()
        self._blocking = threading.Event()
        self._stopped = threading.Event()

    @property
    def gone(self) -> bool:
        return self._gone.is_set()

    def start(self) -> LauncherWatch:
        threading.Thread(target=self._watch, name="launcher-watch", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopped.set()

    @contextlib.contextmanager
    def waiting(self) -> Iterator[None]:
        """A wait that only the launcher's peers can end (a collective): if the launcher goes
        meanwhile, or has already gone, the process exits at once instead of waiting out the
        collective's timeout."""
        self._blocking.set()
        try:
            if self.gone:
                self._leave()
            yield
        finally:
            self._blocking.clear()

    def _watch(self) -> None:
        while not self._stopped.wait(self._poll_s):
            if os.getppid() != self.parent:
                print(
                    f"{self.label}: the launcher (pid {self.parent}) is gone; leaving. Finished "
                    "photos and epochs are kept: run the same command again to resume.",
                    file=sys.stderr,
                    flush=True,
                )
                self._gone.set()
                if self._on_gone is not None:
                    self._on_gone()
                if self._blocking.is_set():
                    self._leave()
                return

    def _leave(self) -> None:
        sys.stderr.flush()
        os._exit(EXIT_LAUNCHER_GONE)
