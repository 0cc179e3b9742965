"""`python -m engine train`: training of the image encoder and the occupancy decoder.

Two recipes:
- end-to-end: encoder and decoder together, binary cross-entropy on occupancy points;
- two-stage (IM-NET's recipe, with an auto-decoder for the first stage): stage 1 learns the decoder
  and one latent per training shape on occupancy points alone; stage 2 freezes the decoder and
  trains the image encoder to regress those latents (mean squared error).

Samples come from the procedural shape generator (fresh shapes every step, or a pool of shapes
rendered once and reused, which is what a CPU can afford) or from a folder of the user's meshes.
Runs on CPU, one GPU (bf16 autocast) or several GPUs with torchrun (DDP). Resumable.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from ..checkpoint import build_model, float_state, read_checkpoint, save_checkpoint
from ..errors import InputError
from ..model import IMDecNet, make_config


def add_arguments(p) -> None:
    p.add_argument("--out", default="runs/train", help="run folder: checkpoints, log.jsonl, curves.png")
    p.add_argument("--categories", default="", help="comma-separated categories (default: all procedural ones)")
    p.add_argument("--meshes", default="", help="train on your meshes: a folder with one sub-folder of meshes per category")
    p.add_argument("--up", default="auto", choices=["auto", "z", "y"], help="up axis of the meshes in --meshes (ShapeNet: y)")
    p.add_argument("--recipe", default="end-to-end", choices=["end-to-end", "two-stage"])
    p.add_argument("--steps", type=int, default=20000, help="steps in all (two-stage: both stages)")
    p.add_argument("--shape-steps", type=int, default=0, help="two-stage: steps of stage 1 (default: 40 %% of --steps)")
    p.add_argument("--batch", type=int, default=32, help="shapes per step (per GPU with torchrun)")
    p.add_argument("--points", type=int, default=2048, help="occupancy points per shape and step")
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--pool", type=int, default=0, help="shapes per category rendered once and reused (0: fresh shapes every step)")
    p.add_argument("--views", type=int, default=4, help="rendered views per pooled shape")
    p.add_argument("--pool-points", type=int, default=16384, help="occupancy points stored per pooled shape")
    p.add_argument("--pool-cache", default="", help="file to keep the sample pool in: loaded if present, else written; "
                   "several comma-separated files (all present) are trained on as one pool")
    p.add_argument("--resume", default="", help="continue from a run's last.pt")
    p.add_argument("--init", default="", help="start from the weights of this checkpoint where names and shapes match "
                   "(e.g. its encoder for a new decoder); the rest start fresh")
    p.add_argument("--init-parts", default="all", choices=["all", "encoder", "decoder"], help="which part --init loads")
    p.add_argument("--minutes", type=float, default=0, help="stop (and save) after this many minutes")
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--val-shapes", type=int, default=4, help="validation shapes per category")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--decoder-hidden", default="", help="decoder widths, e.g. 256,256,128,128,64")
    p.add_argument("--latent-dim", type=int, default=0)
    p.add_argument("--point-frequencies", type=int, default=None, help="octaves of sin/cos point features (0: plain xyz)")


# --------------------------------------------------------------------------------------------
# distributed helpers

def dist_info() -> tuple[int, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return world, int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))


def setup_device(choice: str) -> torch.device:
    from ..device import pick_device

    world, rank, local = dist_info()
    if world > 1:
        backend = "nccl" if torch.cuda.is_available() and choice != "cpu" else "gloo"
        torch.distributed.init_process_group(backend)
        if backend == "nccl":
            torch.cuda.set_device(local)
            return torch.device("cuda", local)
        return torch.device("cpu")
    return pick_device(choice)


# --------------------------------------------------------------------------------------------
# progress and logging

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


def plot_curves(log_path: Path, out_path: Path) -> None:
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


# --------------------------------------------------------------------------------------------
# training

def lr_at(step: int, total: int, base: float) -> float:
    """Linear warm-up over the first 5 % of the steps (at most 200), then cosine decay to 5 %."""
    warmup = max(1, min(200, total // 20))
    if step < warmup:
        return base * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


def occupancy_loss(logits: torch.Tensor, occupancy: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits.float(), occupancy.float())


LATENT_PRIOR = 1e-4  # weight of the L2 prior on stage-1 latents (as in DeepSDF's auto-decoder)


class Recipe:
    """What one training step optimises; `end-to-end`, or the two stages of `two-stage`."""

    def __init__(self, args, model: IMDecNet, train_model, pool, device, state: dict | None):
        self.name, self.model, self.train_model = args.recipe, model, train_model
        self.shape_steps = (args.shape_steps or int(0.4 * args.steps)) if self.name == "two-stage" else 0
        self.latents = None
        if self.name == "two-stage":
            if pool is None:
                raise InputError("--recipe two-stage learns one latent per pooled shape: give --pool N (or --pool-cache)")
            if dist_info()[0] > 1:
                raise InputError("--recipe two-stage runs on one device; use end-to-end with torchrun")
            saved = (state or {}).get("train_state", {}).get("latents")
            init = saved if saved is not None else 0.01 * torch.randn(len(pool), model.config["latent_dim"])
            self.latents = torch.nn.Parameter(init.to(device))
        self.lr = args.lr

    def stage(self, step: int) -> int:
        """0 for end-to-end; 1 or 2 for the stages of two-stage."""
        if self.name == "end-to-end":
            return 0
        return 1 if step < self.shape_steps else 2

    def parameters(self, step: int):
        if self.name == "end-to-end":
            return list(self.model.parameters())
        if self.stage(step) == 1:
            return list(self.model.decoder.parameters()) + [self.latents]
        return list(self.model.encoder.parameters())

    def optimizer(self, step: int):
        return torch.optim.AdamW(self.parameters(step), lr=self.lr, weight_decay=1e-5)

    def loss(self, batch: dict, step: int, amp: bool, device) -> torch.Tensor:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            if self.name == "end-to-end":
                return occupancy_loss(self.train_model(batch["images"], batch["points"]), batch["occupancy"])
            if self.stage(step) == 1:
                z = self.latents[batch["shape"]]
                logits = self.model.decoder(z, batch["points"])
                return occupancy_loss(logits, batch["occupancy"]) + LATENT_PRIOR * z.float().pow(2).sum(1).mean()
            target = self.latents[batch["shape"]].detach()
            return F.mse_loss(self.model.encoder(batch["images"]).float(), target)

    def lr_at(self, step: int, total: int) -> float:
        """The schedule restarts for stage 2."""
        if self.name == "two-stage" and self.stage(step) == 2:
            return lr_at(step - self.shape_steps, total - self.shape_steps, self.lr)
        return lr_at(step, self.shape_steps if self.name == "two-stage" else total, self.lr)


def init_weights(model: IMDecNet, payload: dict, path: str, parts: str = "all", announce: bool = True) -> None:
    """Copy the checkpoint's tensors (of `parts`: all, encoder or decoder) whose names and shapes
    match the model; say what stays fresh."""
    own = model.state_dict()
    wanted = "" if parts == "all" else parts + "."
    matching = {k: v for k, v in float_state(payload).items()
                if k.startswith(wanted) and k in own and own[k].shape == v.shape}
    if not matching:
        raise InputError(f"{path} has no weights that fit this network; nothing to start from")
    model.load_state_dict(matching, strict=False)
    fresh = sorted(set(own) - set(matching))
    if announce:
        print(f"init from {path}: {len(matching)} tensors loaded" +
              (f", fresh: {', '.join(fresh)}" if fresh else ""), file=sys.stderr)


@torch.no_grad()
def shape_ious(model: IMDecNet, images: torch.Tensor, points: torch.Tensor, occupancy: torch.Tensor,
               chunk: int = 16) -> list[float]:
    """IoU of each shape at its points (the decision at logit 0), in eval mode."""
    was_training = model.training
    model.eval()
    ious = []
    for i in range(0, len(images), chunk):
        pred, truth = model(images[i:i + chunk], points[i:i + chunk]) > 0, occupancy[i:i + chunk]
        inter = (pred & truth).sum(1).float()
        union = (pred | truth).sum(1).float().clamp(min=1)
        ious.extend((inter / union).tolist())
    model.train(was_training)
    return ious


def validation_iou(model: IMDecNet, val: dict) -> float:
    """Mean IoU over the validation shapes, at their uniform points."""
    ious = shape_ious(model, val["images"], val["points"], val["occupancy"])
    return float(sum(ious) / max(1, len(ious)))


def run(args) -> int:
    from ..data.samples import Pool, SampleSource, source_seed

    world, rank, _ = dist_info()
    device = setup_device(args.device)
    torch.manual_seed(args.seed + rank)
    out = Path(args.out)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)

    state = None
    if args.resume:
        state = read_checkpoint(args.resume)
        if "train_state" not in state:
            raise InputError(f"{args.resume} holds no training state to resume; use --init to start from its weights")
        model = build_model(state, args.resume)
        categories = state["categories"]
    else:
        overrides = {}
        if args.decoder_hidden:
            overrides["decoder_hidden"] = [int(w) for w in args.decoder_hidden.split(",")]
        if args.latent_dim:
            overrides["latent_dim"] = args.latent_dim
        if args.point_frequencies is not None:
            overrides["point_frequencies"] = args.point_frequencies
        model = IMDecNet(make_config(**overrides))
        if args.init:
            init_weights(model, read_checkpoint(args.init), args.init, args.init_parts, announce=(rank == 0))
        categories = None

    source = SampleSource.create(categories=categories or [c for c in args.categories.split(",") if c],
                                 meshes=args.meshes, up=args.up, image_size=model.config["image_size"],
                                 device=device, seed=source_seed(args.seed, rank))
    categories = source.categories
    model.to(device).train()
    train_model = model
    if world > 1:
        train_model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    step = int(state["train_state"]["step"]) if state is not None else 0
    if state is not None and "rng" in state["train_state"]:
        source.set_state(state["train_state"]["rng"])

    pool = None
    pool_files = [Path(f) for f in args.pool_cache.split(",") if f]
    if len(pool_files) > 1 or (pool_files and pool_files[0].is_file()):
        missing = [str(f) for f in pool_files if not f.is_file()]
        if missing:
            raise InputError(f"pool file not found: {', '.join(missing)}")
        pool = Pool.load(pool_files, source.generator, device)
    elif args.pool > 0:
        pool = source.build_pool(args.pool, args.views, args.pool_points, progress=(rank == 0))
        if args.pool_cache and rank == 0:
            pool.save(args.pool_cache)
    val = source.validation_set(args.val_shapes, points=20000)
    recipe = Recipe(args, model, train_model, pool, device, state)
    optimizer = recipe.optimizer(step)
    if state is not None and state["train_state"].get("stage", 0) == recipe.stage(step):
        optimizer.load_state_dict(state["train_state"]["optimizer"])

    amp = device.type == "cuda"
    log_path = out / "log.jsonl"
    progress = Progress(args.steps, step, enabled=(rank == 0))
    deadline = time.time() + args.minutes * 60 if args.minutes > 0 else float("inf")
    t_start = time.time()
    log_every = max(1, min(25, args.steps // 10))
    recent: list[float] = []

    def save() -> None:
        if rank != 0:
            return
        val_iou = validation_iou(model, val)
        trained = {"data": source.describe(), "steps": step, "batch": args.batch * world, "points": args.points,
                   "pool_shapes": len(pool) if pool is not None else 0,  # 0: fresh shapes every step
                   "views": args.views, "seconds": round(time.time() - t_start, 1),
                   "command": "python -m engine " + " ".join(sys.argv[1:]),
                   "val_iou": round(val_iou, 4), "recipe": args.recipe}
        if recipe.shape_steps:
            trained["shape_steps"] = recipe.shape_steps
        train_state = {"optimizer": optimizer.state_dict(), "step": step, "rng": source.get_state(),
                       "stage": recipe.stage(step)}
        if recipe.latents is not None:
            train_state["latents"] = recipe.latents.detach().cpu()
        save_checkpoint(out / "last.pt", model, categories=categories, trained=trained, extra={"train_state": train_state})
        save_checkpoint(out / "model.pt", model, categories=categories, trained=trained)
        with log_path.open("a") as f:
            f.write(json.dumps({"step": step, "val_iou": val_iou, "time": round(time.time() - t_start, 1)}) + "\n")
        plot_curves(log_path, out / "curves.png")

    while step < args.steps and time.time() < deadline:
        if recipe.stage(step) != recipe.stage(step - 1) and step > 0:
            optimizer = recipe.optimizer(step)  # stage 2: the encoder alone
        lr = recipe.lr_at(step, args.steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        batch = pool.sample(args.batch, args.points) if pool is not None else source.fresh_batch(args.batch, args.points)
        loss = recipe.loss(batch, step, amp, device)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(recipe.parameters(step), 5.0)
        optimizer.step()
        step += 1
        recent.append(loss.item())
        if rank == 0 and step % log_every == 0:
            with log_path.open("a") as f:  # the mean loss since the last line
                f.write(json.dumps({"step": step, "loss": sum(recent) / len(recent), "lr": lr, "stage": recipe.stage(step - 1),
                                    "time": round(time.time() - t_start, 1)}) + "\n")
            recent.clear()
        progress.update(step, f"loss {loss.item():.4f}")
        if step % args.eval_every == 0 and step < args.steps:
            save()
    save()
    progress.close()
    if rank == 0:
        print(json.dumps({"run": str(out), "steps": step, "checkpoint": str(out / "model.pt"),
                          "seconds": round(time.time() - t_start, 1)}))
    if world > 1:
        torch.distributed.destroy_process_group()
    return 0
