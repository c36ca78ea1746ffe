"""Progress of a run: a live bar (stage, step, losses, images/s, ETA) on a terminal, plain log lines
otherwise (CI logs, files), both from the same calls."""

from __future__ import annotations

import sys
import time
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


def _losses(values: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.4g}" for k, v in values.items())


class StageProgress:
    """Reports one stage; ``log_every`` steps apart when not on a terminal."""

    def __init__(self, label: str, start: int, total: int, log_every: int, enabled: bool = True) -> None:
        self.label, self.total, self.log_every, self.enabled = label, total, log_every, enabled
        self.live = enabled and sys.stderr.isatty()
        self.started = time.perf_counter()
        self.first = start
        self._bar: Progress | None = None
        if self.live:
            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[info]}"), TimeRemainingColumn(), transient=False)
            self._task = self._bar.add_task(label, total=total, completed=start, info="")
            self._bar.start()

    def update(self, step: int, losses: dict[str, float], images_per_s: float) -> None:
        """After ``step`` steps of the stage are done."""
        if not self.enabled:
            return
        info = f"{_losses(losses)} {images_per_s:.1f} img/s"
        if self._bar is not None:
            self._bar.update(self._task, completed=step, info=info)
        elif step % self.log_every == 0 or step == self.total:
            done = step - self.first
            eta = (time.perf_counter() - self.started) / max(done, 1) * (self.total - step)
            print(f"{self.label} step {step}/{self.total} {info} eta {eta:.0f}s", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()

    def __enter__(self) -> StageProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
