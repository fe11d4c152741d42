"""The stop flag a long command sets on SIGTERM/SIGINT, torch-free so that the ONNX Runtime path
(`map --model model.onnx` on a field install) can use it; `seg_core.core.runtime` re-exports it."""

from __future__ import annotations

import signal


class StopRequested:
    """Set by SIGTERM/SIGINT; the loop checks it after every step."""

    def __init__(self) -> None:
        self.requested = False
        self.signal_name = ""

    def install(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._handle)

    def _handle(self, signum, _frame) -> None:
        self.requested = True
        self.signal_name = signal.Signals(signum).name
