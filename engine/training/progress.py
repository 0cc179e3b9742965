"""What a run shows and records as it goes: the progress bar, log.jsonl and curves.png."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


class Progress:
    """A one-line progress bar on stderr (a plain line every few seconds when not a terminal)."""

    def __init__(self, total: int, start: int = 0, enabled: bool = True):
        self.total, self.start, self.enabled = total, start, enabled
        self.t0 = time.time()
        self.last = 0.0
        self.tty = sys.stderr.isatty()

    def update(self, step: int, text: str) -> None:
        now = time.time()
        if not self.enabled or (now - self.last < (0.2 if self.tty else 15.0) and step < self.total):
            return
        self.last = now
        done = step - self.start
        rate = done / max(now - self.t0, 1e-9)
        eta = (self.total - step) / rate if rate > 0 else float("inf")
        width = 24
        filled = int(width * step / max(self.total, 1))
        bar = "#" * filled + "-" * (width - filled)
        line = f"[{bar}] {step}/{self.total} {text} {rate:.2f} it/s ETA {eta / 60:.1f} min"
        print(("\r" + line) if self.tty else line, end="" if self.tty else "\n", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.enabled and self.tty:
            print(file=sys.stderr)


class RunLog:
    """log.jsonl: one JSON object a line (losses, validation IoU), appended; `enabled` False on
    the processes of a torchrun other than rank 0."""

    def __init__(self, path: Path, enabled: bool = True):
        self.path, self.enabled = path, enabled
        self.t0 = time.time()

    def seconds(self) -> float:
        return round(time.time() - self.t0, 1)

    def write(self, **row) -> None:
        if self.enabled:
            with self.path.open("a") as f:
                f.write(json.dumps({**row, "time": self.seconds()}) + "\n")


class LossAverage:
    """The mean loss over the steps since the last log line, written every `every` steps."""

    def __init__(self, log: RunLog, every: int):
        self.log, self.every = log, every
        self.recent: list[float] = []

    def add(self, step: int, loss: float, lr: float, stage: int) -> None:
        self.recent.append(loss)
        if step % self.every == 0:
            self.log.write(step=step, loss=sum(self.recent) / len(self.recent), lr=lr, stage=stage)
            self.recent.clear()


def plot_curves(log_path: Path, out_path: Path) -> None:
    """curves.png from log.jsonl: training loss (per stage), validation IoU and learning rate."""
    from .plot import line_chart

    rows = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    names = {0: "occupancy BCE", 1: "stage 1: occupancy BCE", 2: "stage 2: latent MSE"}
    loss: dict[str, list] = {}
    for r in rows:
        if "loss" in r:
            loss.setdefault(names[r.get("stage", 0)], []).append((r["step"], r["loss"]))
    val = [(r["step"], r["val_iou"]) for r in rows if "val_iou" in r]
    lr = [(r["step"], r["lr"]) for r in rows if "lr" in r]
    line_chart(out_path, [
        {"title": "training loss", "series": loss, "log_y": True},
        {"title": "validation IoU", "series": {"val IoU": val}},
        {"title": "learning rate", "series": {"lr": lr}},
    ])
