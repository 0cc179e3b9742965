"""Reading a model for a calibration tool and writing it back with the calibration's figures."""

import torch

from engine.checkpoint import build_model, read_checkpoint, resolve_model, save_checkpoint
from engine.model import IMDecNet


def load_for_calibration(model: str) -> tuple[dict, IMDecNet]:
    """(the checkpoint's dict, its network in float32) for a path or bundled model name."""
    path = resolve_model(model)
    payload = read_checkpoint(path)
    return payload, build_model(payload, path).float()


def save_calibrated(out: str, net: IMDecNet, payload: dict, key: str, calibration: dict) -> None:
    """Write the calibrated network in the input's precision, its figures under trained[key]; the
    input's test metrics are left out, since they no longer hold."""
    half = any(v.dtype == torch.float16 for v in payload["state_dict"].values())
    save_checkpoint(out, net, categories=payload["categories"], half=half,
                    trained={**payload.get("trained", {}), key: calibration})
