"""Messages and progress bars that reach the terminal, also from inside a notebook kernel.

A kernel run by papermill captures sys.stdout/sys.stderr into the notebook; its original stderr
(sys.__stderr__) is still the terminal that started papermill. Messages go to both.
"""

from __future__ import annotations

import sys


def _in_kernel() -> bool:
    return sys.__stderr__ is not None and sys.stderr is not sys.__stderr__


def announce(message: str) -> None:
    """Print `message` to stdout (the notebook, in a kernel) and to the terminal."""
    print(message, flush=True)
    if _in_kernel():
        print(message, file=sys.__stderr__, flush=True)


class _Tee:
    def __init__(self, *streams):
        self.streams = streams

    def write(self, text: str) -> None:
        for stream in self.streams:
            stream.write(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()


def progress_stream():
    """Where progress bars write: stderr, and in a kernel the terminal too."""
    return _Tee(sys.stderr, sys.__stderr__) if _in_kernel() else sys.stderr
