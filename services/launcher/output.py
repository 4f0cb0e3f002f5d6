"""Output to a reader that may go away (`aiplat up | head`, a closed terminal), without failing the writer."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable

OUTPUT_GONE_STATUS = 128 + signal.SIGPIPE
"""The exit status once the output's reader went away: what a shell reports for a process SIGPIPE ended."""


class StoppingOutput:
    """Lines to ``write`` until its reader has gone; then ``on_gone`` runs once and later lines are dropped.

    The launcher relays its children's output through this: a relay that failed would stop draining
    their pipes, and a child blocked on a full pipe stops serving.
    """

    def __init__(self, write: Callable[[str], None], on_gone: Callable[[], None]) -> None:
        self._write = write
        self._on_gone = on_gone
        self.gone = False

    def write(self, line: str) -> None:
        if self.gone:
            return
        try:
            self._write(line)
        except BrokenPipeError:
            self.gone = True
            self._on_gone()


def discard_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush, of what the departed reader never
    took, does not fail at exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
