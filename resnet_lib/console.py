"""Messages and progress bars that reach the terminal, also from inside a notebook kernel.

A kernel run by papermill captures sys.stdout/sys.stderr into the notebook. ipykernel >= 6 also
captures file descriptor 2 and keeps the terminal's descriptor as `_original_stdstream_copy`;
older kernels leave the terminal at sys.__stderr__. Messages go to the notebook once and to the
terminal once.
"""

from __future__ import annotations

import os
import sys
import time
from functools import lru_cache


@lru_cache(maxsize=1)
def _terminal():
    """The terminal behind a notebook kernel, or None outside a kernel."""
    if sys.__stderr__ is None or sys.stderr is sys.__stderr__:
        return None
    fd = getattr(sys.stderr, "_original_stdstream_copy", None)
    return open(os.dup(fd), "w", buffering=1) if fd is not None else sys.__stderr__


def _own_line(stream) -> str:
    """What starts a message on a terminal line of its own: papermill's progress bar leaves its line open,
    and a message written after it would run on from it ("Executing:  40%|███▉ | 4/10training ...")."""
    return "\r\x1b[K" if getattr(stream, "isatty", lambda: False)() else ""


def announce(message: str) -> None:
    """Print `message` to stdout (the notebook, in a kernel) and to the terminal."""
    print(message, flush=True)
    if _terminal() is not None:
        print(_own_line(_terminal()) + message, file=_terminal(), flush=True)


def tell_terminal(message: str) -> None:
    """Print `message` to the terminal only (in a kernel, not into the notebook: a page of the report
    does not show where a figure file went); outside a kernel, to stdout."""
    stream = _terminal() or sys.stdout
    print(_own_line(stream) + message, file=stream, flush=True)


def kernel_shutting_down(wait_s: float = 1.0) -> bool:
    """Whether the notebook kernel we run in has been asked to shut down, waiting up to `wait_s` for the
    request: papermill and nbval interrupt the kernel on a Ctrl-C in the terminal and ask it to shut down
    right after, while the interrupt button of Jupyter only interrupts. False outside a kernel."""
    kernel = getattr(sys.modules.get("IPython") and sys.modules["IPython"].get_ipython(), "kernel", None)
    if kernel is None or not hasattr(kernel, "_shutdown_message"):  # ipykernel sets it when asked to shut down
        return False
    deadline = time.monotonic() + wait_s
    while kernel._shutdown_message is None:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def leave_kernel(message: str, status: int = 130) -> None:
    """End a kernel that is shutting down, after telling the terminal `message`: its sockets are closing,
    so the notebook cannot show it, and the kernel's reply to the cell would only fail with a traceback."""
    stream = _terminal() or sys.__stderr__
    print(_own_line(stream) + message, file=stream, flush=True)
    os._exit(status)


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
    return _Tee(sys.stderr, _terminal()) if _terminal() is not None else sys.stderr
