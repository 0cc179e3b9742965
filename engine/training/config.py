"""TrainConfig: every option of a training run, with its default."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TrainConfig:
    out: str = "runs/train"                 # run folder: checkpoints, log.jsonl, curves.png
    categories: tuple[str, ...] = ()        # procedural categories (empty: all)
    hold_out_families: bool = False         # never train on the families of data.families.HELD_OUT_FAMILIES
    meshes: str = ""                        # a folder with one sub-folder of meshes per category
    up: str = "auto"                        # up axis of those meshes: auto, z or y
    recipe: str = "end-to-end"              # or "two-stage"
    steps: int = 20000                      # in all (two-stage: both stages)
    shape_steps: int = 0                    # two-stage: steps of stage 1 (0: 40 % of steps)
    batch: int = 32                         # shapes per step (per process with torchrun)
    points: int = 2048                      # occupancy points per shape and step
    lr: float = 5e-4
    pool: int = 0                           # shapes per category rendered once and reused (0: fresh shapes)
    views: int = 4                          # rendered views per pooled shape
    pool_points: int = 16384                # occupancy points stored per pooled shape
    pool_cache: tuple[str, ...] = ()        # pool file(s): loaded if present, else (one file) written
    replay: int = 0                         # shapes a replay pool holds (0: none): fresh shapes, each kept a while
    replay_fresh: int = 6                   # new shapes a replay pool renders each step, in place of its oldest
    resume: str = ""                        # a run's last.pt to continue from
    init: str = ""                          # checkpoint whose matching weights start the network
    init_parts: str = "all"                 # which part `init` loads: all, encoder or decoder
    minutes: float = 0                      # stop (and save) after this many minutes (0: no limit); the lr decays within them
    eval_every: int = 500
    val_shapes: int = 4                     # validation shapes per category
    device: str = "auto"
    seed: int = 0
    decoder_hidden: tuple[int, ...] = ()    # decoder widths (empty: the model's default)
    latent_dim: int = 0                     # 0: the model's default
    point_frequencies: int | None = None    # octaves of sin/cos point features (None: the default)
    local_features: int | None = None       # channels of the pixel-aligned features (0: global-only; None: the default)
    camera_bins: int | None = None          # local model: azimuth sectors of the camera head (0: sin/cos; None: the default)
    camera_trunk: int | None = None         # local model: width of the camera head's own CNN (0: none; None: the default)
    near_surface: float = 0.5               # share of the training points near the surface (the rest uniform)
    surface_sigmas: tuple[float, ...] = (0.01, 0.03)  # their distances from the surface (standard deviations)
    inside_weight: float = 1.0              # loss weight of inside points (thin parts are mostly inside points)
    predicted_camera: float = 0.3           # local model: share of shapes whose points are placed by the predicted camera
    camera_weight: float = 0.5              # local model: weight of the camera head's loss
    camera_projection: float = 10.0         # local model: weight of the head's projection error (CameraHead.projection_loss)
    local_lr_scale: float = 1.0             # local model: learning rate of its added parts, times lr
    train_parts: str = "all"                # "added": only what a local model adds (the global model stays as it is)
    precision: str = "auto"                 # "bf16" autocast, "fp32", or auto: bf16 where the device has it
    command: str = ""                       # how the run was started, recorded in the checkpoint

    def model_overrides(self) -> dict:
        """The network settings that differ from make_config's defaults."""
        overrides = {}
        if self.decoder_hidden:
            overrides["decoder_hidden"] = [int(w) for w in self.decoder_hidden]
        if self.latent_dim:
            overrides["latent_dim"] = self.latent_dim
        if self.point_frequencies is not None:
            overrides["point_frequencies"] = self.point_frequencies
        if self.local_features is not None:
            overrides["local_features"] = self.local_features
        if self.camera_bins is not None:
            overrides["camera_bins"] = self.camera_bins
        if self.camera_trunk is not None:
            overrides["camera_trunk"] = self.camera_trunk
        return overrides

    def sampling(self) -> dict:
        """SampleSource's settings for the training points (and the families it never draws)."""
        from ..data.families import HELD_OUT_FAMILIES

        return {"near_surface": self.near_surface, "sigmas": tuple(self.surface_sigmas),
                "held_out": HELD_OUT_FAMILIES if self.hold_out_families else None}
