"""`python -m engine train`: training of the image encoder and the occupancy decoder.

Two recipes: end-to-end (encoder and decoder together on occupancy points) and two-stage (IM-NET's:
the decoder and one latent per pooled shape first, then the encoder regresses those latents).
Runs on CPU, one GPU or several with torchrun; resumable. Prints the run's summary as JSON.
"""

from __future__ import annotations

import json

from ..request import DEVICES
from ..training.config import TrainConfig

DEFAULT = TrainConfig()


def add_arguments(p) -> None:
    from ..data.families import describe as held_out_families

    d = DEFAULT
    p.add_argument("--out", default=d.out, help="run folder: checkpoints, log.jsonl, curves.png")
    p.add_argument("--categories", default="", help="comma-separated categories (default: the six object categories; "
                   "'primitives' adds random compositions of primitives)")
    p.add_argument("--hold-out-families", action="store_true",
                   help=f"never train on the held-out subtype families ({held_out_families()}), so that "
                        "`evaluate --families held-out` measures them as unseen")
    p.add_argument("--meshes", default=d.meshes, help="train on your meshes: a folder with one sub-folder of meshes per category")
    p.add_argument("--up", default=d.up, choices=["auto", "z", "y"], help="up axis of the meshes in --meshes (ShapeNet: y)")
    p.add_argument("--recipe", default=d.recipe, choices=["end-to-end", "two-stage"])
    p.add_argument("--steps", type=int, default=d.steps, help="steps in all (two-stage: both stages)")
    p.add_argument("--shape-steps", type=int, default=d.shape_steps, help="two-stage: steps of stage 1 (default: 40 %% of --steps)")
    p.add_argument("--batch", type=int, default=d.batch, help="shapes per step (per GPU with torchrun)")
    p.add_argument("--points", type=int, default=d.points, help="occupancy points per shape and step")
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--pool", type=int, default=d.pool, help="shapes per category rendered once and reused (0: fresh shapes every step)")
    p.add_argument("--views", type=int, default=d.views, help="rendered views per pooled shape")
    p.add_argument("--pool-points", type=int, default=d.pool_points, help="occupancy points stored per pooled shape")
    p.add_argument("--pool-cache", default="", help="file to keep the sample pool in: loaded if present, else written; "
                   "several comma-separated files (all present) are trained on as one pool")
    p.add_argument("--replay", type=int, default=d.replay,
                   help="train on a replay pool of this many shapes: each step renders --replay-fresh new ones "
                        "in place of the oldest and draws its batch from all held (0: fresh shapes every step, "
                        "or --pool)")
    p.add_argument("--replay-fresh", type=int, default=d.replay_fresh, help="new shapes a replay pool renders a step")
    p.add_argument("--resume", default=d.resume, help="continue from a run's last.pt")
    p.add_argument("--init", default=d.init, help="start from the weights of this checkpoint where names and shapes match "
                   "(e.g. its encoder for a new decoder); the rest start fresh")
    p.add_argument("--init-parts", default=d.init_parts, choices=["all", "encoder", "decoder"], help="which part --init loads")
    p.add_argument("--minutes", type=float, default=d.minutes, help="stop (and save) after this many minutes; the learning rate "
                   "then decays over the steps that fit in them at the run's pace")
    p.add_argument("--eval-every", type=int, default=d.eval_every)
    p.add_argument("--val-shapes", type=int, default=d.val_shapes, help="validation shapes per category")
    p.add_argument("--device", default=d.device, choices=DEVICES)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--decoder-hidden", default="", help="decoder widths, e.g. 256,256,128,128,64")
    p.add_argument("--latent-dim", type=int, default=d.latent_dim)
    p.add_argument("--point-frequencies", type=int, default=d.point_frequencies, help="octaves of sin/cos point features (0: plain xyz)")
    p.add_argument("--local-features", type=int, default=d.local_features,
                   help="channels of the pixel-aligned features the decoder samples where a point projects "
                        "(0: the global-only IM-NET model; default: the model's default)")
    p.add_argument("--camera-bins", type=int, default=d.camera_bins,
                   help="local model: azimuth sectors the camera head classifies among (0: it regresses sin/cos; "
                        "default: the model's default)")
    p.add_argument("--camera-trunk", type=int, default=d.camera_trunk,
                   help="local model: width of the camera head's own CNN on the picture (0: the head reads the "
                        "encoder's pooled features alone; default: the model's default)")
    p.add_argument("--near-surface", type=float, default=d.near_surface, help="share of training points near the surface")
    p.add_argument("--surface-sigmas", default=",".join(map(str, d.surface_sigmas)),
                   help="distances of the near-surface points from the surface (standard deviations)")
    p.add_argument("--inside-weight", type=float, default=d.inside_weight, help="loss weight of inside points")
    p.add_argument("--predicted-camera", type=float, default=d.predicted_camera,
                   help="local model: share of shapes placed by the predicted camera instead of the true one")
    p.add_argument("--camera-weight", type=float, default=d.camera_weight, help="local model: weight of the camera loss")
    p.add_argument("--camera-projection", type=float, default=d.camera_projection,
                   help="local model: weight of the camera's projection error (inside points placed by the "
                        "head's camera against the true one, in image units squared), added to the camera loss")
    p.add_argument("--train-parts", default=d.train_parts, choices=["all", "added"],
                   help="added: train only the camera head, pixel features and local stream of a local model "
                        "initialised from a global one, which stays as it is")
    p.add_argument("--local-lr-scale", type=float, default=d.local_lr_scale,
                   help="local model: learning rate of the camera head, pixel features and local stream, times --lr")
    p.add_argument("--precision", default=d.precision, choices=["auto", "bf16", "fp32"],
                   help="bf16 autocast or fp32 (auto: bf16 where the device runs it natively)")


# options given as one comma-separated string on the command line, tuples in TrainConfig
LIST_OPTIONS = {"categories": str, "pool_cache": str, "decoder_hidden": int, "surface_sigmas": float}


def config_from(args) -> TrainConfig:
    from dataclasses import fields

    from . import command_line, comma_list

    values = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)}
    for name, kind in LIST_OPTIONS.items():
        values[name] = comma_list(values[name], kind, "--" + name.replace("_", "-"))
    values["command"] = command_line()  # args.command is the subcommand's name
    return TrainConfig(**values)


def run(args) -> int:
    from ..training import train

    summary = train(config_from(args))
    if summary is not None:  # None on the other processes of a torchrun
        print(json.dumps(summary))
    return 0
