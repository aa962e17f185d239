"""One progress bar over several reproductions (``dynopt reproduce all``).

:class:`OverallProgress` draws one line on stderr: which reproduction runs,
how far the whole is and an ETA from :data:`dynopt.reproduce.ESTIMATES`,
rescaled by how long the finished reproductions took against their
estimates. :func:`duration` says seconds in words.
"""
from __future__ import annotations

import sys

__all__ = ["OverallProgress", "duration", "paused"]


def duration(seconds) -> str:
    """``seconds`` in words a person reads at a glance: '45 s', '3 min', '1 h 05 min'."""
    seconds = max(0, int(round(seconds)))
    if seconds < 90:
        return f"{seconds} s"
    minutes = (seconds + 30) // 60
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


class OverallProgress:
    """One progress bar over several reproductions, as plain text on a stream.

    On a terminal the line is redrawn in place (``\\r``) twice a second;
    elsewhere (a file, a pipe, CI's log) a full line is written when each
    reproduction starts and every ``interval`` seconds (30 by default). The
    line names the reproduction running and gives an ETA from
    :data:`ESTIMATES`, rescaled by how long the finished reproductions
    actually took against their estimates.

    Parameters
    ----------
    names : list of str
        The reproductions, in the order they run.
    size : str
        Their size (one of :data:`SIZES`).
    stream : file, optional
        Where the bar goes (default ``sys.stderr``).
    interval : float, optional
        Seconds between redraws (default 0.5 on a terminal, 30 elsewhere).
    """

    def __init__(self, names, size, stream=None, interval=None):
        import threading
        import time

        from . import estimate
        self.names = list(names)
        self.size = size
        self.stream = sys.stderr if stream is None else stream
        self.tty = _is_terminal(self.stream)
        self.interval = (0.5 if self.tty else 30.0) if interval is None else float(interval)
        #: the size's estimates, else the default size's as relative weights only
        own = [estimate(n, size) for n in self.names]
        self.calibrated = all(w is not None for w in own)
        weights = own if self.calibrated else [estimate(n, "default") for n in self.names]
        self.weights = [float(w or 1.0) for w in weights]
        self.taken: list = []
        self.current = -1
        self.runs = 0
        self._clock = time.monotonic
        self.started = self._clock()
        self._current_started = self.started
        self._width = 0
        self._paused = 0
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="dynopt-progress", daemon=True)
        self._thread.start()

    # -- the figures -----------------------------------------------------------
    def _scale(self):
        """Measured seconds per estimated second, ``None`` while nothing tells."""
        if self.taken:
            return sum(self.taken) / sum(self.weights[:len(self.taken)])
        return 1.0 if self.calibrated else None

    def remaining(self):
        """Predicted seconds left (``None`` when unknown), and the fraction done."""
        done = len(self.taken)
        total = sum(self.weights)
        scale = self._scale()
        if scale is None or done >= len(self.names):
            return (0.0 if done >= len(self.names) else None), done / len(self.names)
        elapsed = self._clock() - self._current_started if self.current >= done else 0.0
        predicted = max(self.weights[done] * scale, elapsed * 1.05)
        left = predicted - elapsed + sum(self.weights[done + 1:]) * scale
        fraction = (sum(self.weights[:done]) + self.weights[done] * elapsed / predicted) / total
        return left, min(fraction, 1.0)

    def line(self) -> str:
        """The bar as one line of at most 100 columns."""
        left, fraction = self.remaining()
        filled = int(round(20 * fraction))
        k = min(max(self.current, 0), len(self.names) - 1)
        name = self.names[k] if len(self.taken) < len(self.names) else "done"
        eta = "?" if left is None else f"~{duration(left)}"
        text = (f"all [{'#' * filled}{'.' * (20 - filled)}] {100 * fraction:3.0f}%  "
                f"{min(len(self.taken) + 1, len(self.names))}/{len(self.names)} {name}  "
                f"{duration(self._clock() - self.started)} elapsed, ETA {eta}  "
                f"({self.runs} runs)")
        return text[:100]

    # -- events ----------------------------------------------------------------
    def start(self, k: int) -> None:
        """Reproduction ``k`` (an index of ``names``) starts."""
        with self._lock:
            self.current = k
            self.runs = 0
            self._current_started = self._clock()
            self.draw()

    def record(self, record=None) -> None:
        """One run finished (usable as :attr:`ReproConfig.on_record`)."""
        self.runs += 1

    def finish(self, k: int) -> None:
        """Reproduction ``k`` finished."""
        with self._lock:
            if len(self.taken) == k:
                self.taken.append(self._clock() - self._current_started)

    def close(self) -> None:
        """Stop redrawing and leave no bar on the screen."""
        self._stop.set()
        self._thread.join(timeout=2)
        with self._lock:
            self.clear()

    # -- drawing ---------------------------------------------------------------
    def draw(self) -> None:
        """Redraw the line on a terminal; elsewhere write it as a line of its own."""
        with self._lock:
            if self._stop.is_set() or self.current < 0 or self._paused:
                return
            text = self.line()
            if self.tty:
                self.stream.write("\r" + text.ljust(self._width))
                self._width = len(text)
            else:
                self.stream.write(text + "\n")
            self.stream.flush()

    def clear(self) -> None:
        """Blank the bar's line on a terminal (before other text is printed)."""
        with self._lock:
            if self.tty and self._width:
                self.stream.write("\r" + " " * self._width + "\r")
                self.stream.flush()
                self._width = 0

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.draw()

    def pause(self):
        """A context in which the bar is cleared and not redrawn (to print beside it)."""
        import contextlib

        @contextlib.contextmanager
        def paused():
            with self._lock:
                self.clear()
                self._paused += 1
                try:
                    yield
                finally:
                    self._paused -= 1
                if self.tty and not self._paused:
                    self.draw()
        return paused()


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def paused(bar):
    """``bar.pause()``, or a context doing nothing without a bar."""
    import contextlib
    return contextlib.nullcontext() if bar is None else bar.pause()
