"""What a training step optimises: the learning-rate schedule, the losses and the two recipes.

- end-to-end: encoder and decoder together, binary cross-entropy on occupancy points;
- two-stage (IM-NET's recipe, with an auto-decoder for the first stage): stage 1 learns the decoder
  and one latent per training shape on occupancy points alone; stage 2 freezes the decoder and
  trains the image encoder to regress those latents (mean squared error).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..camera import ImageCamera
from ..errors import InputError
from ..model import IMDecNet
from .config import TrainConfig
from .distributed import dist_info

LOCAL_PARTS = ("camera_head.", "pixel_features.", "local.")  # what a local model adds to a global one
LATENT_PRIOR = 1e-4  # weight of the L2 prior on stage-1 latents (as in DeepSDF's auto-decoder)


def lr_at(step: int, total: int, base: float) -> float:
    """Linear warm-up over the first 5 % of the steps (at most 200), then cosine decay to 5 %."""
    warmup = max(1, min(200, total // 20))
    if step < warmup:
        return base * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


def occupancy_loss(logits: torch.Tensor, occupancy: torch.Tensor, inside_weight: float = 1.0) -> torch.Tensor:
    """Binary cross-entropy; inside points count `inside_weight` times (DISN weights them up, so
    that thin parts, which are few inside points, are not given up for the many outside ones)."""
    target = occupancy.float()
    weight = None if inside_weight == 1.0 else 1.0 + (inside_weight - 1.0) * target
    return F.binary_cross_entropy_with_logits(logits.float(), target, weight=weight)


class Recipe:
    """What one training step optimises; `end-to-end`, or the two stages of `two-stage`."""

    def __init__(self, config: TrainConfig, model: IMDecNet, train_model, pool, device, state: dict | None):
        self.name, self.model, self.train_model = config.recipe, model, train_model
        self.shape_steps = (config.shape_steps or int(0.4 * config.steps)) if self.name == "two-stage" else 0
        self.latents = None
        if self.name == "two-stage":
            if pool is None:
                raise InputError("--recipe two-stage learns one latent per pooled shape: give --pool N (or --pool-cache)")
            if dist_info()[0] > 1:
                raise InputError("--recipe two-stage runs on one device; use end-to-end with torchrun")
            saved = (state or {}).get("train_state", {}).get("latents")
            init = saved if saved is not None else 0.01 * torch.randn(len(pool), model.config["latent_dim"])
            self.latents = torch.nn.Parameter(init.to(device))
        self.lr = config.lr
        self.inside_weight, self.local_lr_scale = config.inside_weight, config.local_lr_scale
        self.train_parts = config.train_parts
        if self.train_parts not in ("all", "added"):
            raise InputError(f"train parts '{self.train_parts}' is not one of all, added")
        if self.train_parts == "added":
            if model.local is None or self.name != "end-to-end":
                raise InputError("--train-parts added trains what a local model adds to a global one: "
                                 "give --local-features and the end-to-end recipe")
            for name, p in model.named_parameters():  # no gradients for the parts that stay: a faster backward
                p.requires_grad_(name.startswith(LOCAL_PARTS))
        self.predicted_camera, self.camera_weight = config.predicted_camera, config.camera_weight
        self.camera_projection = config.camera_projection
        self.generator = torch.Generator(device=device).manual_seed(config.seed + 7)
        if model.local is not None and pool is not None and not pool.has_cameras:
            raise InputError("this pool was saved without cameras, which the local model needs; build it again")

    def stage(self, step: int) -> int:
        """0 for end-to-end; 1 or 2 for the stages of two-stage."""
        if self.name == "end-to-end":
            return 0
        return 1 if step < self.shape_steps else 2

    def parameters(self, step: int):
        if self.name == "end-to-end" and self.train_parts == "added":
            return [p for name, p in self.model.named_parameters() if name.startswith(LOCAL_PARTS)]
        if self.name == "end-to-end":
            return list(self.model.parameters())
        if self.stage(step) == 1:
            return list(self.model.decoder.parameters()) + [self.latents]
        return list(self.model.encoder.parameters())

    def optimizer(self, step: int):
        """AdamW over this stage's parameters; the parts a local model adds to a global one (camera
        head, pixel features, local stream) learn `local_lr_scale` times faster, so that they catch
        up with an encoder and decoder that start trained."""
        params = self.parameters(step)
        added = {id(p) for name, p in self.model.named_parameters() if name.startswith(LOCAL_PARTS)}
        groups = [{"params": [p for p in params if id(p) not in added], "lr_scale": 1.0},
                  {"params": [p for p in params if id(p) in added], "lr_scale": self.local_lr_scale}]
        return torch.optim.AdamW([g for g in groups if g["params"]], lr=self.lr, weight_decay=1e-5)

    def loss(self, batch: dict, step: int, amp: bool, device) -> torch.Tensor:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            if self.name == "end-to-end":
                return self.end_to_end_loss(batch)
            if self.stage(step) == 1:
                z = self.latents[batch["shape"]]
                logits = self.model.decoder(z, batch["points"])
                return occupancy_loss(logits, batch["occupancy"], self.inside_weight) + \
                    LATENT_PRIOR * z.float().pow(2).sum(1).mean()
            target = self.latents[batch["shape"]].detach()
            return F.mse_loss(self.model.encoder(batch["images"]).float(), target)

    def end_to_end_loss(self, batch: dict) -> torch.Tensor:
        if self.train_parts == "added":
            self.model.encoder.eval()  # its batch-norm statistics stay the global model's
        if self.model.local is None:
            logits = self.train_model(batch["images"], batch["points"])
            return occupancy_loss(logits, batch["occupancy"], self.inside_weight)
        true = ImageCamera.from_vector(batch["camera"])
        logits, predicted = self.train_model(batch["images"], batch["points"], self.camera_choice(true), True)
        head = self.model.camera_head
        camera_loss = head.loss(predicted, batch["camera"])
        if self.camera_projection > 0:
            camera_loss = camera_loss + self.camera_projection * head.projection_loss(
                predicted, batch["camera"], batch["points"], batch["occupancy"])
        return occupancy_loss(logits, batch["occupancy"], self.inside_weight) + self.camera_weight * camera_loss

    def camera_choice(self, true: ImageCamera):
        """What places the points in the images: per shape the true camera, jittered, or (for a
        share of them) the head's own prediction, which is what the model gets in use."""
        jittered = true.jittered(self.generator)
        use_predicted = torch.rand(len(true), generator=self.generator, device=self.generator.device) < self.predicted_camera

        def choose(predicted_vector: torch.Tensor) -> ImageCamera:
            pick = use_predicted.to(predicted_vector.device).unsqueeze(-1)
            mixed = torch.where(pick, predicted_vector.float(), jittered.to_vector())
            return ImageCamera.from_vector(mixed)

        return choose

    def lr_at(self, step: int, total: int) -> float:
        """The schedule restarts for stage 2."""
        if self.name == "two-stage" and self.stage(step) == 2:
            return lr_at(step - self.shape_steps, total - self.shape_steps, self.lr)
        return lr_at(step, self.shape_steps if self.name == "two-stage" else total, self.lr)
