#!/usr/bin/env python3
"""Copy a trained checkpoint into engine/weights/ in half precision (without the training state).

    python tools/bundle_model.py runs/two/model.pt imdec-6cat
Then measure it: python -m engine evaluate --model imdec-6cat --store
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.checkpoint import WEIGHTS_DIR, build_model, read_checkpoint, save_checkpoint  # noqa: E402


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    source, name = argv
    payload = read_checkpoint(source)
    target = save_checkpoint(WEIGHTS_DIR / f"{name}.pt", build_model(payload, source), categories=payload["categories"],
                             metrics=payload.get("metrics"), trained=payload.get("trained"), half=True)
    print(f"{target} ({target.stat().st_size / 2 ** 20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
