"""The training loop: `train(config)` sets a run up, steps it and saves it.

Samples come from the procedural shape generator (fresh shapes every step; a replay pool, which
renders a few new shapes a step and keeps each for a while; or a pool of shapes rendered once and
reused) or from a folder of the user's meshes.
Runs on CPU, one GPU (bf16 autocast) or several processes with torchrun (DDP). Resumable.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

from ..checkpoint import build_model, float_state, read_checkpoint
from ..errors import InputError
from ..model import IMDecNet, make_config
from .config import TrainConfig
from .distributed import dist_info, finish, setup_device, wrap_for_training
from .progress import LossAverage, Progress, RunLog
from .recipes import Recipe
from .saving import RunSaver


def train(config: TrainConfig) -> dict | None:
    """Train as `config` says. Returns the run's summary (run folder, steps, checkpoint, seconds)
    on rank 0, None on the other processes of a torchrun."""
    from ..data.samples import SampleSource, source_seed

    world, rank, _ = dist_info()
    main_process = rank == 0
    device = setup_device(config.device)
    torch.manual_seed(config.seed + rank)
    out = Path(config.out)
    if main_process:
        out.mkdir(parents=True, exist_ok=True)

    state = resume_state(config.resume)
    model = create_model(config, state, announce=main_process)
    source = SampleSource.create(categories=(state or {}).get("categories") or list(config.categories),
                                 meshes=config.meshes, up=config.up, image_size=model.config["image_size"],
                                 device=device, seed=source_seed(config.seed, rank), **config.sampling())
    amp = use_bf16(config.precision, device)
    model.to(device).train()
    if amp:  # bf16 convolutions run fastest on channels-last tensors (CPU and GPU alike)
        model.encoder.to(memory_format=torch.channels_last)
    train_model = wrap_for_training(model, device)
    step = restore_position(state, source)
    pool = sample_pool(config, source, device, main_process)
    val = source.validation_set(config.val_shapes, points=20000)
    recipe = Recipe(config, model, train_model, pool, device, state)
    optimizer = restore_optimizer(recipe, step, state)

    log = RunLog(out / "log.jsonl", enabled=main_process)
    saver = RunSaver(config, model, source, pool, recipe, val, log, world, main_process)
    losses = LossAverage(log, every=max(1, min(25, config.steps // 10)))
    progress = Progress(config.steps, step, enabled=main_process)
    started, first_step = time.time(), step
    deadline = started + config.minutes * 60 if config.minutes > 0 else float("inf")

    while step < config.steps and time.time() < deadline:
        if step > 0 and recipe.stage(step) != recipe.stage(step - 1):
            optimizer = recipe.optimizer(step)  # stage 2: the encoder alone
        lr = recipe.lr_at(step, scheduled_steps(config.steps, first_step, step, started, deadline, time.time()))
        batch = (pool.sample(config.batch, config.points, config.near_surface) if pool is not None
                 else source.fresh_batch(config.batch, config.points))
        if amp:
            batch["images"] = batch["images"].contiguous(memory_format=torch.channels_last)
        loss = train_step(recipe, optimizer, batch, step, lr, amp, device)
        step += 1
        losses.add(step, loss, lr, recipe.stage(step - 1))
        progress.update(step, f"loss {loss:.4f}")
        if step % config.eval_every == 0 and step < config.steps:
            saver.save(step, optimizer)
    saver.save(step, optimizer)
    progress.close()
    finish()
    if not main_process:
        return None
    return {"run": str(out), "steps": step, "checkpoint": str(out / "model.pt"), "seconds": log.seconds()}


PACE_STEPS = 20  # steps of a run timed before its pace sets the length of its schedule


def scheduled_steps(steps: int, first_step: int, step: int, started: float, deadline: float, now: float) -> int:
    """The steps the learning-rate schedule spans: `steps`, or fewer when the run's deadline comes
    first at its pace so far (from `first_step` at time `started`), so that a run stopped by
    --minutes still ends its decay."""
    elapsed = now - started
    if deadline == float("inf") or step - first_step < PACE_STEPS or elapsed <= 0:
        return steps
    reachable = step + (step - first_step) * (deadline - now) / elapsed
    return min(steps, max(step + 1, int(reachable)))


def train_step(recipe: Recipe, optimizer: torch.optim.Optimizer, batch: dict, step: int, lr: float,
               amp: bool, device: torch.device) -> float:
    """One optimiser step at learning rate `lr`; the loss before it."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)
    loss = recipe.loss(batch, step, amp, device)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(recipe.parameters(step), 5.0)
    optimizer.step()
    return loss.item()


# --------------------------------------------------------------------------------------------
# set-up

def use_bf16(precision: str, device: torch.device) -> bool:
    """bf16 autocast: when asked for, or ("auto") where the device runs it natively."""
    from ..device import bf16_supported

    if precision not in ("auto", "bf16", "fp32"):
        raise InputError(f"precision '{precision}' is not one of auto, bf16, fp32")
    return precision == "bf16" or (precision == "auto" and bf16_supported(device))


def resume_state(path: str) -> dict | None:
    """The checkpoint to resume from (with its training state), or None for a new run."""
    if not path:
        return None
    state = read_checkpoint(path)
    if "train_state" not in state:
        raise InputError(f"{path} holds no training state to resume; use --init to start from its weights")
    return state


def create_model(config: TrainConfig, state: dict | None, announce: bool = True) -> IMDecNet:
    """The resumed network, or a new one (from `config.init`'s weights where they fit)."""
    if state is not None:
        return build_model(state, config.resume)
    model = IMDecNet(make_config(**config.model_overrides()))
    if config.init:
        init_weights(model, read_checkpoint(config.init), config.init, config.init_parts, announce=announce)
    return model


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


def restore_position(state: dict | None, source) -> int:
    """The step to start at; a resumed run's sampling continues where it stopped."""
    if state is None:
        return 0
    if "rng" in state["train_state"]:
        source.set_state(state["train_state"]["rng"])
    return int(state["train_state"]["step"])


def sample_pool(config: TrainConfig, source, device: torch.device, main_process: bool = True):
    """The pool of shapes to train on: a replay pool when `replay` > 0; loaded from `pool_cache`
    (one present file, or several that must all be present), else built (and written to the one
    `pool_cache` file, by the main process) when `pool` > 0; None: fresh shapes every step."""
    from ..data.samples import Pool, ReplayPool

    files = [Path(f) for f in config.pool_cache]
    if config.replay > 0:
        if files or config.pool > 0:
            raise InputError("--replay renews its shapes as it trains: give it without --pool and --pool-cache")
        if config.recipe == "two-stage":
            raise InputError("--recipe two-stage learns one latent per pooled shape, which a replay pool "
                             "does not keep: give --pool N")
        # four times the points a step takes, so each draw of a shape sees mostly other points
        return ReplayPool(source, config.replay, config.replay_fresh, 4 * config.points)
    if len(files) > 1 or (files and files[0].is_file()):
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise InputError(f"pool file not found: {', '.join(missing)}")
        return Pool.load(files, source.generator, device)
    if config.pool <= 0:
        return None
    pool = source.build_pool(config.pool, config.views, config.pool_points, progress=main_process)
    if files and main_process:
        pool.save(files[0])
    return pool


def restore_optimizer(recipe: Recipe, step: int, state: dict | None) -> torch.optim.Optimizer:
    """The optimiser of the current stage, with a resumed run's moments when it stopped in that stage."""
    optimizer = recipe.optimizer(step)
    if state is not None and state["train_state"].get("stage", 0) == recipe.stage(step):
        optimizer.load_state_dict(state["train_state"]["optimizer"])
    return optimizer
