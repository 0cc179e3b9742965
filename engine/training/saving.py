"""What a run leaves behind at each evaluation: last.pt (to resume), model.pt (to use), the
validation IoU in log.jsonl and curves.png."""

from __future__ import annotations

from pathlib import Path

import torch

from ..checkpoint import save_checkpoint
from ..model import IMDecNet
from .config import TrainConfig
from .progress import RunLog, plot_curves
from .recipes import Recipe
from .validation import camera_errors, validation_iou


class RunSaver:
    """Saves the run's state on demand; a no-op on the processes of a torchrun other than rank 0."""

    def __init__(self, config: TrainConfig, model: IMDecNet, source, pool, recipe: Recipe, val: dict,
                 log: RunLog, world: int, main_process: bool = True):
        self.config, self.model, self.source, self.pool, self.recipe = config, model, source, pool, recipe
        self.val, self.log, self.world, self.main_process = val, log, world, main_process
        self.out = Path(config.out)

    def save(self, step: int, optimizer: torch.optim.Optimizer) -> None:
        if not self.main_process:
            return
        val_iou = validation_iou(self.model, self.val)
        camera = camera_errors(self.model, self.val["images"], self.val["camera"])
        trained = self.trained(step, val_iou)
        if camera is not None:
            trained["val_camera_error"] = {k: round(v, 4) for k, v in camera.items()}
        categories = self.source.categories
        save_checkpoint(self.out / "last.pt", self.model, categories=categories, trained=trained,
                        extra={"train_state": self.train_state(step, optimizer)})
        save_checkpoint(self.out / "model.pt", self.model, categories=categories, trained=trained)
        self.log.write(step=step, val_iou=val_iou, **({"val_camera": camera} if camera else {}))
        plot_curves(self.log.path, self.out / "curves.png")

    def trained(self, step: int, val_iou: float) -> dict:
        """The checkpoint's record of how the model was trained."""
        c = self.config
        trained = {"data": self.source.describe(), "steps": step, "batch": c.batch * self.world, "points": c.points,
                   "pool_shapes": 0 if self.pool is None or c.replay else len(self.pool),  # 0: fresh shapes
                   "views": c.views, "seconds": self.log.seconds(),
                   "command": c.command or f"engine.training.train({c!r})",
                   "val_iou": round(val_iou, 4), "recipe": c.recipe}
        if c.pool_cache:  # the files say what the pool holds (their shapes may differ from --categories)
            trained["pool_files"] = [Path(f).name for f in c.pool_cache]
        if c.replay:
            trained["replay"] = {"shapes": c.replay, "fresh_per_step": self.pool.fresh, "rendered": self.pool.added}
        if self.recipe.shape_steps:
            trained["shape_steps"] = self.recipe.shape_steps
        if c.hold_out_families:
            from ..data.families import HELD_OUT_FAMILIES

            trained["held_out_families"] = {cat: list(names) for cat, names in HELD_OUT_FAMILIES.items()}
        return trained

    def train_state(self, step: int, optimizer: torch.optim.Optimizer) -> dict:
        """What resuming needs beyond the weights: optimiser, step, sampling state, stage, latents."""
        state = {"optimizer": optimizer.state_dict(), "step": step, "rng": self.source.get_state(),
                 "stage": self.recipe.stage(step)}
        if self.recipe.latents is not None:
            state["latents"] = self.recipe.latents.detach().cpu()
        return state
