"""A byte progress bar that appears only when the work takes longer than a second."""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # rich is imported only when a bar is drawn: synth never draws one
    from rich.progress import Progress, TaskID

SHOW_AFTER_SECONDS = 1.0


class ByteProgress:
    """Counts bytes; after ``SHOW_AFTER_SECONDS`` draws a rich bar on stderr (terminals only)."""

    def __init__(self, total: int, description: str, *, enabled: bool = True) -> None:
        self._total = total
        self._description = description
        self._enabled = enabled and sys.stderr.isatty()
        self._started = time.monotonic()
        self._done = 0
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def advance(self, count: int) -> None:
        self._done += count
        if not self._enabled:
            return
        if self._progress is None and time.monotonic() - self._started > SHOW_AFTER_SECONDS:
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task(self._description, total=self._total, completed=self._done)
        elif self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=self._done)

    def __enter__(self) -> ByteProgress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
