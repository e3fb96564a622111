"""What a run prints, kept for the run history and the Traceability report.

:class:`ConsoleCopy` stands in for ``sys.stdout``: every write still reaches the real stream, and a copy
is kept. :func:`console_text` turns that copy into the lines a reader wants, without progress-bar frames
and terminal escape codes, so the text is the same with a bar on a terminal as without one.
"""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Callable
from typing import Any

_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")  # colours and cursor moves
_BAR = re.compile(r"\[\d+:\d+(?::\d+)?<[^\]]*\]\s*$")  # a progress bar frame: "... [00:03<00:10, 4.2it/s]"


def console_text(raw: str) -> str:
    """The lines of ``raw`` a log reader wants: without colour and cursor codes, and without the frames of
    progress bars (redrawn in place with carriage returns).

    >>> console_text("\\rEpoch 1:  50%|# | 2/4 [00:01<00:01, 2.0it/s]\\r        \\rfastest-Train: step: 2;\\n"
    ...              "\\x1b[1mbold\\x1b[0m\\n\\n\\rEpoch 1: 100%|##| 4/4 [00:02<00:00, 2.0it/s]\\n")
    'fastest-Train: step: 2;\\nbold\\n\\n'
    """
    kept = []
    for line in re.findall(r"[^\n]*\n|[^\n]+$", _ESCAPE.sub("", raw)):
        body = line.rstrip("\n")
        if "\r" not in body and not _BAR.search(body):  # the line as printed
            kept.append(line)
            continue
        shown = [part for part in body.split("\r") if part.strip() and not _BAR.search(part)]
        if shown:  # a line printed over a bar (tqdm.write clears the bar first)
            kept.append(shown[-1] + line[len(body):])
    return "".join(kept)


class ConsoleCopy:
    """``sys.stdout`` while a run is watched: writes go through unchanged and are kept.

    Any other attribute (``isatty``, ``fileno``, ``encoding``, ``getvalue`` …) is the wrapped stream's, so
    progress bars and pytest's capture see their own stream. Two copies may be active at once (the run
    history and a report): each wraps the stream it found.

    Args:
        stream: The stream to pass writes on to.
        limit: Most characters to keep (None: no limit); a note marks where the copy stops.
        on_line: Called after a write that ends a line (e.g. to save the text so far).

    >>> import io
    >>> copy = ConsoleCopy(io.StringIO(), limit=5)
    >>> _ = copy.write("abcdefgh\\n")
    >>> copy.take(), copy.stream.getvalue()
    ('abcde\\n[console copy truncated here]\\n', 'abcdefgh\\n')
    """

    def __init__(self, stream: Any, limit: int | None = None, on_line: Callable[[], None] | None = None) -> None:
        self.stream = stream
        self.room = limit
        self.on_line = on_line
        self.parts: list[str] = []
        self.active = True
        self.lock = threading.RLock()  # other threads may print too (and a signal handler, re-entering)

    @classmethod
    def install(cls, limit: int | None = None, on_line: Callable[[], None] | None = None) -> ConsoleCopy:
        """A copy of the current ``sys.stdout``, put in its place."""
        copy = cls(sys.stdout, limit, on_line)
        sys.stdout = copy
        return copy

    def write(self, text: str) -> int:
        if self.active and isinstance(text, str):
            with self.lock:
                self._keep(text)
            if self.on_line is not None and "\n" in text:
                self.on_line()
        return self.stream.write(text)

    def _keep(self, text: str) -> None:
        if self.room is None:
            self.parts.append(text)
        elif self.room > 0:
            self.parts.append(text[: self.room])
            self.room -= len(text)
            if self.room <= 0:
                self.parts.append("\n[console copy truncated here]\n")

    def take(self, complete_lines: bool = False) -> str:
        """The text kept so far (only up to the last newline with ``complete_lines``), and forget it."""
        with self.lock:
            text, self.parts = "".join(self.parts), []
            if complete_lines:
                cut = text.rfind("\n") + 1
                text, rest = text[:cut], text[cut:]
                self.parts = [rest] if rest else []
        return text

    def put_back(self, text: str) -> None:
        """Return ``text`` (from :meth:`take`) to the front of the copy, e.g. when saving it failed."""
        with self.lock:
            self.parts.insert(0, text)

    def uninstall(self) -> None:
        """Stop copying; if this copy is ``sys.stdout``, give back the stream below it (skipping finished copies)."""
        self.active = False
        if sys.stdout is self:  # else someone replaced it meanwhile: the copy now only passes writes on
            previous = self.stream
            while isinstance(previous, ConsoleCopy) and not previous.active:
                previous = previous.stream
            sys.stdout = previous

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)
